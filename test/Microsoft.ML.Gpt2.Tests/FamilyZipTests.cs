using System.IO.Compression;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Tests;
using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Gpt2.Generation;
using Microsoft.ML.Gpt2.Instructions;
using Microsoft.ML.Gpt2.Persistence;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// ML.NET zips of a Llama-family model whose tokenizer comes from its folder's tokenizer.json (<see cref="TinyFamilyModel"/>;
/// the fine-tuned classifier's float32 zip is checked where it is trained, in <see cref="FamilyClassifierTests"/>):
/// the tokenizer travels inside the zip, the zip loads in a fresh <see cref="MLContext"/> as a chain of ML.NET's own
/// transformers (ONNX Runtime runs the model; nothing in it can reach libtorch) and scores and generates as the fitted
/// transformer does in memory; a zip whose tokenizer is damaged is refused by name.
/// </summary>
[TestClass]
public sealed class FamilyZipTests
{
    private static string _folder = null!;
    private static MLContext _context = null!;
    private static IDataView _train = null!;
    private static IDataView _test = null!;

    private static readonly string[] Prompts =
    [
        "the weather",
        "Hi",
        "Once upon a time, in a town far away, there lived",
        "Ünïcödé and digits 12345 🙂",
    ];

    private sealed class Prediction
    {
        public string PredictedText { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    public sealed class PromptRow
    {
        public string Prompt { get; set; } = "";
    }

    public sealed class GeneratedRow
    {
        public string GeneratedText { get; set; } = "";
    }

    [ClassInitialize]
    public static void Prepare(TestContext _)
    {
        _folder = TinyFamilyModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-family-zip-" + Guid.NewGuid().ToString("N")));
        _context = new MLContext(seed: 1);
        (List<SmsSpamData.Message> train, List<SmsSpamData.Message> test) = SmsSpamData.BalancedSplit(perClass: 150, trainFraction: 0.8);
        _train = _context.Data.LoadFromEnumerable(train);
        _test = _context.Data.LoadFromEnumerable(test);
    }

    [ClassCleanup]
    public static void Delete() => Directory.Delete(_folder, recursive: true);

    private static Gpt2TextClassifier.Options ClassifierOptions(int epochs) => new()
    {
        BaseModel = LanguageModelSource.Pretrained(_folder),
        Sentence1ColumnName = "Text",
        TrainableLayers = TrainableLayers.All,
        LearningRate = 3e-3,
        MaxEpochs = epochs,
        MaxLength = 64,
        Seed = 5,
        Device = CPU,
    };

    private static ITransformer Classifier(Gpt2TextClassifier.Options options) =>
        _context.Transforms.Conversion.MapValueToKey("Label")
            .Append(_context.MulticlassClassification.Trainers.Gpt2(options))
            .Append(_context.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"))
            .Fit(_train);

    [TestMethod]
    [DataRow(8)]
    [DataRow(4)]
    public void AQuantizedClassifierZipRunsMatMulNBitsAndScoresCloseToTheModelInMemory(int bits)
    {
        OnnxWeightQuantization quantization = Quantization(bits)!;
        Gpt2TextClassifier.Options options = ClassifierOptions(epochs: 1);
        options.SavedWeightQuantization = quantization;
        ITransformer model = Classifier(options);
        string path = TempZip($"classifier-int{bits}");
        try
        {
            _context.Model.Save(model, _train.Schema, path);
            StringAssert.Contains(OnnxModelText(path), "MatMulNBits", "the saved graph multiplies by quantized blocks");
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out _);
            AssertOnlyMLNetTransformers(loaded);
            Prediction[] memory = Predictions(_context, model), saved = Predictions(loadContext, loaded);
            double worst = memory.Zip(saved).Max(pair => pair.First.Score.Zip(pair.Second.Score).Max(p => Math.Abs(p.First - p.Second)));
            Console.WriteLine($"int{bits}: largest probability difference {worst:G3}");
            Assert.IsGreaterThan(0.0, worst, "the zip's weights are quantized, so some probability moves");
            Assert.IsLessThan(bits == 8 ? 0.02 : 0.1, worst, "class probabilities close to float32's");
            Assert.IsGreaterThanOrEqualTo(0.95, memory.Zip(saved).Count(pair => pair.First.PredictedText == pair.Second.PredictedText) / (double)memory.Length);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
            File.Delete(path);
        }
    }

    private sealed class Pair
    {
        public string Premise { get; set; } = "";
        public string Hypothesis { get; set; } = "";
        public string Label { get; set; } = "";
    }

    [TestMethod]
    public void ASentencePairClassifierZipCutsAndScoresPairsAsTheModelInMemory()
    {
        // Long premises and a maximum length of 24 tokens: the zip must cut each pair as memory does, or the scores move.
        var random = new Random(3);
        Pair[] pairs = [.. _train.GetColumn<string>("Text").Take(60).Select(text => new Pair
        {
            Premise = text + " " + text,
            Hypothesis = random.Next(2) == 0 ? "yes, please" : "no, thanks",
            Label = random.Next(2) == 0 ? "a" : "b",
        })];
        IDataView data = _context.Data.LoadFromEnumerable(pairs);
        Gpt2TextClassifier.Options options = ClassifierOptions(epochs: 1);
        options.Sentence1ColumnName = nameof(Pair.Premise);
        options.Sentence2ColumnName = nameof(Pair.Hypothesis);
        options.MaxLength = 24;
        ITransformer model = _context.Transforms.Conversion.MapValueToKey("Label")
            .Append(_context.MulticlassClassification.Trainers.Gpt2(options))
            .Append(_context.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"))
            .Fit(data);
        string path = TempZip("pairs");
        try
        {
            _context.Model.Save(model, data.Schema, path);
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out _);
            AssertOnlyMLNetTransformers(loaded);
            Prediction[] memory = [.. _context.Data.CreateEnumerable<Prediction>(model.Transform(data), reuseRowObject: false)];
            Prediction[] saved = [.. loadContext.Data.CreateEnumerable<Prediction>(loaded.Transform(loadContext.Data.LoadFromEnumerable(pairs)), reuseRowObject: false)];
            Assert.HasCount(pairs.Length, saved);
            for (int i = 0; i < memory.Length; i++)
            {
                Assert.AreEqual(memory[i].PredictedText, saved[i].PredictedText, $"row {i}");
                Assert.AreEqual(memory[i].Score[0], saved[i].Score[0], 1e-4, $"row {i}");
            }
        }
        finally
        {
            (model as IDisposable)?.Dispose();
            File.Delete(path);
        }
    }

    private static Gpt2TextGenerator.Options GeneratorOptions(OnnxWeightQuantization? quantization = null) => new()
    {
        BaseModel = LanguageModelSource.Pretrained(_folder),
        Generation =
        {
            Sampling = new() { MaxNewTokens = 10 },
            BatchSize = 2,
            // The in-memory path of a quantized zip: ONNX Runtime with the same quantized weights.
            Engine = quantization is null ? DecodingEngine.TorchSharp : DecodingEngine.OnnxRuntime(new OnnxRuntimeDecoding { WeightQuantization = quantization }),
        },
        SavedWeightQuantization = quantization,
        Device = CPU,
    };

    [TestMethod]
    [DataRow(32)]
    [DataRow(8)]
    [DataRow(4)]
    public void AGeneratorZipContinuesEachPromptAsTheGeneratorInMemory(int bits)
    {
        OnnxWeightQuantization? quantization = Quantization(bits);
        IDataView data = _context.Data.LoadFromEnumerable(Prompts.Select(p => new PromptRow { Prompt = p }).ToArray());
        using Gpt2TextGenerationTransformer generator = new Gpt2TextGenerator(_context, GeneratorOptions(quantization)).Fit(data);
        Assert.IsInstanceOfType<HuggingFaceTokenizer>(generator.GenerationService.Tokenizer);
        string[] memory = [.. _context.Data.CreateEnumerable<GeneratedRow>(generator.Transform(data), reuseRowObject: false).Select(r => r.GeneratedText)];
        Assert.IsTrue(memory.All(text => text.Length > 0), "every prompt is continued");

        string path = TempZip("generator");
        try
        {
            _context.Model.Save(generator, data.Schema, path);
            if (quantization is not null)
                StringAssert.Contains(OnnxModelText(path), "MatMulNBits");
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out _);
            AssertOnlyMLNetTransformers(loaded);
            string[] saved = [.. loadContext.Data.CreateEnumerable<GeneratedRow>(
                loaded.Transform(loadContext.Data.LoadFromEnumerable(Prompts.Select(p => new PromptRow { Prompt = p }).ToArray())), reuseRowObject: false)
                .Select(r => r.GeneratedText)];
            CollectionAssert.AreEqual(memory, saved);
            var engine = loadContext.Model.CreatePredictionEngine<PromptRow, GeneratedRow>(loaded);
            Assert.AreEqual(memory[3], engine.Predict(new PromptRow { Prompt = Prompts[3] }).GeneratedText);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void AGeneratorZipOfAModelWhoseContextIsLongerThan4096TokensHasPromptRowsAsWideAsItsContext()
    {
        // SmolLM2's context, 8192 tokens: beyond GPT-2's widest prompt contract (4096), the zip's prompt rows are 8192 wide.
        string folder = TinyFamilyModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-family-zip-8192-" + Guid.NewGuid().ToString("N")));
        try
        {
            string configPath = Path.Combine(folder, "config.json");
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!;
            config["max_position_embeddings"] = 8192;
            File.WriteAllText(configPath, config.ToJsonString());
            // (A prompt longer than 4096 tokens takes tens of seconds to decode on two cores: the row width is checked instead.)
            string[] prompts = ["Hi", "Once upon a time, in a town far away, there lived"];
            IDataView data = _context.Data.LoadFromEnumerable(prompts.Select(p => new PromptRow { Prompt = p }).ToArray());
            Gpt2TextGenerator.Options options = GeneratorOptions();
            options.BaseModel = LanguageModelSource.Pretrained(folder);
            options.Generation.Sampling = new() { MaxNewTokens = 4 };
            using Gpt2TextGenerationTransformer generator = new Gpt2TextGenerator(_context, options).Fit(data);
            Assert.AreEqual(8192, generator.Model.Config.ContextLength);
            string[] memory = [.. _context.Data.CreateEnumerable<GeneratedRow>(generator.Transform(data), reuseRowObject: false).Select(r => r.GeneratedText)];

            string path = TempZip("generator-8192");
            try
            {
                _context.Model.Save(generator, data.Schema, path);
                var loadContext = new MLContext(seed: 2);
                ITransformer loaded = loadContext.Model.Load(path, out _);
                string[] saved = [.. loadContext.Data.CreateEnumerable<GeneratedRow>(
                    loaded.Transform(loadContext.Data.LoadFromEnumerable(prompts.Select(p => new PromptRow { Prompt = p }).ToArray())), reuseRowObject: false)
                    .Select(r => r.GeneratedText)];
                CollectionAssert.AreEqual(memory, saved);
                Assert.AreEqual(8192, PromptRowWidth(loaded, data.Schema), "the zip's prompt rows");
            }
            finally
            {
                File.Delete(path);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // The width of the input_ids column the loaded chain's tokenizing step writes.
    private static int PromptRowWidth(ITransformer loaded, DataViewSchema input)
    {
        DataViewSchema schema = input;
        foreach (ITransformer step in Flatten(loaded))
        {
            schema = step.GetOutputSchema(schema);
            if (schema.GetColumnOrNull(TokenIdsColumns.InputIds) is DataViewSchema.Column ids)
                return ((VectorDataViewType)ids.Type).Size;
        }
        return 0;
    }

    [TestMethod]
    public void AnInstructionTunedZipStopsAtTheTokenizersEndOfTextAsTheModelInMemory()
    {
        Gpt2InstructionTunerTests.Row[] rows =
        [
            new() { Instruction = "Name a color.", Output = "Red." },
            new() { Instruction = "French for", Input = "cat", Output = "chat" },
            new() { Instruction = "Capital of Italy?", Output = "Rome." },
        ];
        IDataView data = _context.Data.LoadFromEnumerable(rows);
        var options = new Gpt2InstructionTuner.Options
        {
            BaseModel = LanguageModelSource.Pretrained(_folder),
            PromptFormat = InstructionPromptFormat.Phi3,
            BatchSize = 3,
            MaxEpochs = 40,
            LearningRate = 1e-2,
            Generation = { Sampling = new() { MaxNewTokens = 12 } },
            Device = CPU,
        };
        using Gpt2InstructionTransformer model = new Gpt2InstructionTuner(_context, options).Fit(data);
        string[] memory = [.. _context.Data.CreateEnumerable<Gpt2InstructionTunerTests.Answer>(model.Transform(data), reuseRowObject: false).Select(a => a.Response)];
        // Learned answers end with <|im_end|>, the tokenizer's end of text (not GPT-2's 50256): the zip must stop there and cut it off.
        CollectionAssert.AreEqual(rows.Select(r => r.Output).ToArray(), memory);

        string path = TempZip("instructions");
        try
        {
            _context.Model.Save(model, data.Schema, path);
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out _);
            AssertOnlyMLNetTransformers(loaded);
            string[] saved = [.. loadContext.Data.CreateEnumerable<Gpt2InstructionTunerTests.Answer>(
                loaded.Transform(loadContext.Data.LoadFromEnumerable(rows)), reuseRowObject: false).Select(a => a.Response)];
            CollectionAssert.AreEqual(memory, saved);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    [DataRow("digest", "does not match its SHA-256")]
    [DataRow("truncated", "is not well-formed JSON")]
    [DataRow("not a tokenizer", "do not make a tokenizer")]
    public void AZipWhoseTokenizerIsDamagedIsRefusedByName(string damage, string expected)
    {
        HuggingFaceTokenizerFiles files = TinyFamilyModel.LoadTokenizer().Files;
        string packed = SavedTokenizer.Pack(files);
        string damaged = damage switch
        {
            // One character of tokenizer.json's base64 changed, as a flipped bit in the zip's bytes would.
            "digest" => DamageBase64(packed),
            "truncated" => packed[..(packed.Length / 2)],
            _ => SavedTokenizer.Pack(files with { TokenizerJson = "{\"model\": {\"type\": \"Unigram\"}}"u8.ToArray() }),
        };
        // The real tokenizing step over the damaged text, saved and loaded through ML.NET as a zip carries it.
        var rows = _context.Data.LoadFromEnumerable(new[] { new SmsSpamData.Message { Text = "hello there" } });
        ITransformer step = _context.Transforms.CopyColumns(TextToTokenIdsInput.TextColumnName, "Text")
            .Append(_context.Transforms.Expression(SavedTokenizer.SlotColumnName, "text => 0", "Text"))
            .Append(_context.Transforms.Conversion.MapValue(SavedTokenizer.ColumnName, [new KeyValuePair<int, string>(0, damaged)], SavedTokenizer.SlotColumnName))
            .Append(_context.Transforms.CustomMapping(new SavedTokenizerTextToTokenIdsMapping().GetMapping(), "Gpt2MLNet.SavedTokenizer.TextToTokenIds.v1"))
            .Fit(rows);
        string path = TempZip("damaged");
        try
        {
            _context.Model.Save(step, rows.Schema, path);
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out _);
            Exception error = Assert.Throws<Exception>(() => loaded.Transform(rows).GetColumn<long[]>(TokenIdsColumns.InputIds).ToArray());
            InvalidDataException reason = Outermost<InvalidDataException>(error) ?? throw new AssertFailedException($"not refused by name: {error}");
            StringAssert.StartsWith(reason.Message, "The tokenizer this model zip carries is damaged: ");
            StringAssert.Contains(reason.Message, expected);
            StringAssert.Contains(reason.Message, "save the zip again");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void TheTokenizerReadBackFromTheZipsTextGivesTheSameIdsAndText()
    {
        HuggingFaceTokenizer original = TinyFamilyModel.LoadTokenizer();
        HuggingFaceTokenizer copy = SavedTokenizer.Unpack(SavedTokenizer.Pack(original.Files));
        foreach (string text in Prompts.Append("<|im_start|>user\nthe end<|im_end|>"))
        {
            CollectionAssert.AreEqual(original.Encode(text), copy.Encode(text), text);
            CollectionAssert.AreEqual(original.Encode(text, allowSpecialTokens: true), copy.Encode(text, allowSpecialTokens: true), text);
            Assert.AreEqual(text, copy.Decode(copy.Encode(text)));
        }
        Assert.AreEqual(original.EndOfTextId, copy.EndOfTextId);
        Assert.AreEqual(original.PaddingId, copy.PaddingId);
        Assert.AreEqual(original.ChatTemplate, copy.ChatTemplate);
    }

    // Every transformer of the loaded chain is ML.NET's own (the model runs in ONNX Runtime through OnnxTransformer, the
    // tokenizer in CustomMapping steps): none of this package's transformers, which hold TorchSharp models, came back.
    internal static void AssertOnlyMLNetTransformers(ITransformer loaded)
    {
        List<ITransformer> all = [.. Flatten(loaded)];
        Assert.IsTrue(all.Any(t => t.GetType().Name == "OnnxTransformer"), string.Join(", ", all.Select(t => t.GetType().Name)));
        foreach (ITransformer transformer in all)
        {
            string assembly = transformer.GetType().Assembly.GetName().Name!;
            Assert.IsTrue(assembly.StartsWith("Microsoft.ML.", StringComparison.Ordinal) && assembly != "Microsoft.ML.Gpt2",
                $"{transformer.GetType().FullName} from {assembly}");
        }
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer) => transformer is IEnumerable<ITransformer> chain
        ? chain.SelectMany(Flatten)
        : [transformer];

    // ML.NET may wrap what a mapping throws; the first exception of type T from the outside.
    private static T? Outermost<T>(Exception? error) where T : Exception
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is T found)
                return found;
        }
        return null;
    }

    private static string DamageBase64(string packed)
    {
        int at = packed.IndexOf("\"bytes\":\"", StringComparison.Ordinal) + 9 + 40;
        return packed[..at] + (packed[at] == 'A' ? 'B' : 'A') + packed[(at + 1)..];
    }

    private static string OnnxModelText(string zipPath)
    {
        using ZipArchive zip = ZipFile.OpenRead(zipPath);
        using var reader = new StreamReader(zip.Entries.Single(e => e.Name == "OnnxModel").Open(), System.Text.Encoding.Latin1);
        return reader.ReadToEnd();
    }

    private static OnnxWeightQuantization? Quantization(int bits) => bits switch
    {
        8 => OnnxWeightQuantization.Int8,
        4 => OnnxWeightQuantization.Int4,
        _ => null,
    };

    private static string TempZip(string what) => Path.Combine(Path.GetTempPath(), $"family-{what}-{Guid.NewGuid():N}.zip");

    private static Prediction[] Predictions(MLContext context, ITransformer model) =>
        [.. context.Data.CreateEnumerable<Prediction>(model.Transform(_test), reuseRowObject: false)];
}
