using Microsoft.Data.Analysis;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace SpamClassification;

/// <summary>
/// The book's data preparation with Microsoft.Data.Analysis instead of pandas: undersample ham to the number of spam
/// messages, shuffle, split 70/10/20, write the splits as CSV files, and hand them to ML.NET.
/// </summary>
internal sealed record SpamSplits(IDataView Train, IDataView Validation, IDataView Test)
{
    public sealed class Message
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(1)] public string Text { get; set; } = "";
    }

    private const int Seed = 123;

    public static SpamSplits Create(MLContext mlContext, string dataPath, string outputFolder)
    {
        IDataView loaded = mlContext.Data.LoadFromTextFile<Message>(dataPath, separatorChar: '\t', hasHeader: false, allowQuoting: false);
        DataFrame all = loaded.ToDataFrame(maxRows: -1);
        Console.WriteLine("Messages per label:");
        Console.WriteLine(all["Label"].ValueCounts());

        var random = new Random(Seed);
        int[] spam = [.. RowsWith(all, "spam")];
        int[] ham = [.. RowsWith(all, "ham")];
        random.Shuffle(ham);
        int[] balanced = [.. ham.Take(spam.Length), .. spam];
        random.Shuffle(balanced);
        DataFrame frame = all.Filter(new Int32DataFrameColumn("row", balanced));
        Console.WriteLine("Balanced:");
        Console.WriteLine(frame["Label"].ValueCounts());

        int trainEnd = (int)(frame.Rows.Count * 0.7), validationEnd = trainEnd + (int)(frame.Rows.Count * 0.1);
        DataFrame train = Rows(frame, 0, trainEnd), validation = Rows(frame, trainEnd, validationEnd), test = Rows(frame, validationEnd, (int)frame.Rows.Count);
        foreach ((string name, DataFrame split) in new[] { ("train", train), ("validation", validation), ("test", test) })
            DataFrame.SaveCsv(split, Path.Combine(outputFolder, $"{name}.csv"));
        Console.WriteLine($"Train {train.Rows.Count}, validation {validation.Rows.Count}, test {test.Rows.Count} messages (CSV files in {outputFolder})");
        return new SpamSplits(train, validation, test);
    }

    private static IEnumerable<int> RowsWith(DataFrame frame, string label)
    {
        DataFrameColumn labels = frame["Label"];
        for (int row = 0; row < labels.Length; row++)
            if ((string)labels[row] == label)
                yield return row;
    }

    private static DataFrame Rows(DataFrame frame, int start, int end) =>
        frame.Filter(new Int32DataFrameColumn("row", Enumerable.Range(start, end - start)));
}
