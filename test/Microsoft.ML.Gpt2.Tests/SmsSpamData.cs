using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>A small, balanced slice of the SMS spam collection for fast classifier tests.</summary>
internal static class SmsSpamData
{
    public sealed class Message
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(1)] public string Text { get; set; } = "";
    }

    public static string Path => System.IO.Path.Combine(AppContext.BaseDirectory, "Data", "SMSSpamCollection");

    public static List<Message> LoadAll()
    {
        var context = new MLContext(seed: 0);
        IDataView data = context.Data.LoadFromTextFile<Message>(Path, separatorChar: '\t', hasHeader: false, allowQuoting: false);
        return [.. context.Data.CreateEnumerable<Message>(data, reuseRowObject: false)];
    }

    /// <summary>The first <paramref name="perClass"/> messages of each class, shuffled with a fixed seed, split into train and test.</summary>
    public static (List<Message> Train, List<Message> Test) BalancedSplit(int perClass, double trainFraction)
    {
        List<Message> all = LoadAll();
        List<Message> picked = [.. all.Where(m => m.Label == "spam").Take(perClass).Concat(all.Where(m => m.Label == "ham").Take(perClass))];
        new Random(7).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(picked));
        int trainCount = (int)(picked.Count * trainFraction);
        return (picked[..trainCount], picked[trainCount..]);
    }
}
