using System.Diagnostics;
using System.Text.Json;
using Gpt2.Torch;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench score</c>: ML.NET scoring throughput on the same SMS messages, side by side: the fitted GPT-2 classifier in
/// memory (TorchSharp, batched <c>Transform</c>), the same classifier saved and loaded as a zip (ONNX Runtime), and ML.NET's
/// <c>FeaturizeText</c> + <c>SdcaMaximumEntropy</c> as the yardstick. The GPT-2 classifier is the <c>mini</c> preset from
/// random weights, fine-tuned one epoch on a few hundred other messages: its accuracy is beside the point, its speed is not.
/// Each engine scores the rows once to warm up, then whole passes are timed (at least two seconds' worth); one JSON line
/// each: <c>{"bench":"score","engine":"in-memory"|"zip"|"sdca","rows_per_s":...}</c>. Two more lines time the same rows one at
/// a time through a <c>PredictionEngine</c> (engines <c>in-memory-prediction-engine</c> and <c>zip-prediction-engine</c>).
/// </summary>
internal static class ScoringBenchmark
{
    private sealed class Message
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(1)] public string Text { get; set; } = "";
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    /// <param name="device">Where the in-memory classifier runs.</param>
    /// <param name="rows">Messages scored (the file's first ones).</param>
    /// <param name="trainingRows">Messages after those that fine-tune the classifiers.</param>
    /// <param name="scoringBatchSize">The in-memory classifier's <see cref="Gpt2TextClassifier.Options.ScoringBatchSize"/>.</param>
    public static void Run(Device device, int rows = 1000, int trainingRows = 300, int scoringBatchSize = 32)
    {
        var mlContext = new MLContext(seed: 1);
        List<Message> all = [.. mlContext.Data.CreateEnumerable<Message>(
            mlContext.Data.LoadFromTextFile<Message>(SmsPath(), separatorChar: '\t', hasHeader: false, allowQuoting: false), reuseRowObject: false)];
        if (all.Count < rows + trainingRows)
            throw new InvalidOperationException($"data/SMSSpamCollection holds {all.Count} messages; the benchmark needs {rows + trainingRows}.");
        IDataView scored = mlContext.Data.LoadFromEnumerable(all[..rows]);
        IDataView train = mlContext.Data.LoadFromEnumerable(all[rows..(rows + trainingRows)]);

        var clock = Stopwatch.StartNew();
        var gpt2 = mlContext.Transforms.Conversion.MapValueToKey(nameof(Message.Label))
            .Append(new Gpt2TextClassifier(mlContext, new Gpt2TextClassifier.Options
            {
                BaseModel = LanguageModelSource.Random("mini"),
                Sentence1ColumnName = nameof(Message.Text),
                LabelColumnName = nameof(Message.Label),
                MaxEpochs = 1,
                ScoringBatchSize = scoringBatchSize,
                Device = device,
            }))
            .Fit(train);
        double fitSeconds = clock.Elapsed.TotalSeconds;

        string zip = Path.Combine(Path.GetTempPath(), $"gpt2-bench-score-{Guid.NewGuid():N}.zip");
        try
        {
            mlContext.Model.Save(gpt2, train.Schema, zip);
            var loadContext = new MLContext(seed: 1);
            ITransformer loaded = loadContext.Model.Load(zip, out _);

            ITransformer sdca = mlContext.Transforms.Conversion.MapValueToKey(nameof(Message.Label))
                .Append(mlContext.Transforms.Text.FeaturizeText("Features", nameof(Message.Text)))
                .Append(mlContext.MulticlassClassification.Trainers.SdcaMaximumEntropy(nameof(Message.Label), "Features"))
                .Fit(train);

            Report("in-memory", RowsPerSecond(gpt2.Transform(scored)), new { scoring_batch_size = scoringBatchSize, fit_s = Math.Round(fitSeconds, 1), device = device.ToString() });
            Report("zip", RowsPerSecond(loaded.Transform(scored)), new { zip_mb = Math.Round(new FileInfo(zip).Length / 1e6, 1) });
            Report("sdca", RowsPerSecond(sdca.Transform(scored)), new { });
            Report("in-memory-prediction-engine", PredictionEngineRowsPerSecond(mlContext.Model.CreatePredictionEngine<Message, Prediction>(gpt2), all[..rows]), new { });
            Report("zip-prediction-engine", PredictionEngineRowsPerSecond(loadContext.Model.CreatePredictionEngine<Message, Prediction>(loaded), all[..rows]), new { });
        }
        finally
        {
            File.Delete(zip);
        }
    }

    /// <summary>Reads every row's Score and PredictedLabel, once to warm up, then in timed passes: rows per second.</summary>
    private static double RowsPerSecond(IDataView data)
    {
        long Pass()
        {
            using DataViewRowCursor cursor = data.GetRowCursor([data.Schema["Score"], data.Schema["PredictedLabel"]]);
            ValueGetter<VBuffer<float>> score = cursor.GetGetter<VBuffer<float>>(data.Schema["Score"]);
            ValueGetter<uint> predicted = cursor.GetGetter<uint>(data.Schema["PredictedLabel"]);
            VBuffer<float> scores = default;
            uint key = 0;
            long count = 0;
            while (cursor.MoveNext())
            {
                score(ref scores);
                predicted(ref key);
                count++;
            }
            return count;
        }

        Pass();
        long rows = 0;
        var clock = Stopwatch.StartNew();
        do
            rows += Pass();
        while (clock.Elapsed.TotalSeconds < 2);
        return rows / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Predicts every message one at a time, once to warm up, then in timed passes: rows per second.</summary>
    private static double PredictionEngineRowsPerSecond(PredictionEngine<Message, Prediction> engine, List<Message> messages)
    {
        using (engine)
        {
            foreach (Message message in messages)
                engine.Predict(message);
            long rows = 0;
            var clock = Stopwatch.StartNew();
            do
            {
                foreach (Message message in messages)
                    engine.Predict(message);
                rows += messages.Count;
            }
            while (clock.Elapsed.TotalSeconds < 2);
            return rows / clock.Elapsed.TotalSeconds;
        }
    }

    private static void Report(string engine, double rowsPerSecond, object extra)
    {
        var line = new Dictionary<string, object> { ["bench"] = "score", ["engine"] = engine, ["rows_per_s"] = Math.Round(rowsPerSecond, 1) };
        foreach (var property in extra.GetType().GetProperties())
            line[property.Name] = property.GetValue(extra)!;
        line["preset"] = "mini";
        line["threads"] = get_num_threads();
        // The machine's load when the line was written: on a shared machine, the figures mean little without it.
        if (File.Exists("/proc/loadavg"))
            line["load_avg_1min"] = double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine(JsonSerializer.Serialize(line));
    }

    /// <summary>The repository's <c>data/SMSSpamCollection</c>, found from the working directory or the program's folder upwards.</summary>
    private static string SmsPath()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (DirectoryInfo? folder = new(start); folder is not null; folder = folder.Parent)
                if (Path.Combine(folder.FullName, "data", "SMSSpamCollection") is var path && File.Exists(path))
                    return path;
        throw new FileNotFoundException("data/SMSSpamCollection was not found above the working directory or the benchmark's folder; run from the repository.");
    }
}
