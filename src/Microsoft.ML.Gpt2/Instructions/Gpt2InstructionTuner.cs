using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Instructions;

/// <summary>
/// Instruction fine-tuning of GPT-2 (the book's chapter 7) inside an ML.NET pipeline: reads instruction, input and
/// output text columns, formats each row with a prompt format (Alpaca by default), trains with the book's collation,
/// and fits a <see cref="Gpt2InstructionTransformer"/> that adds the generated response. Create it with
/// <c>mlContext.Transforms.Text.Gpt2InstructionTuner(...)</c> or the constructor.
/// </summary>
public sealed class Gpt2InstructionTuner : IEstimator<Gpt2InstructionTransformer>
{
    /// <summary>Options of <see cref="Gpt2InstructionTuner"/>; the defaults are the book's.</summary>
    public sealed class Options : Gpt2GenerationOptions
    {
        /// <summary>Sets the book's defaults: GPT-2 medium (355M) as the base model and up to 256 new tokens per response.</summary>
        public Options()
        {
            BaseModel = "355M";
            MaxNewTokens = 256;
        }

        /// <summary>The instruction column (text).</summary>
        public string InstructionColumnName = "Instruction";

        /// <summary>The input column (text; empty when a row has none).</summary>
        public string InputColumnName = "Input";

        /// <summary>The reference-response column (text) the model learns from; not read at prediction.</summary>
        public string OutputColumnName = "Output";

        /// <summary>The generated-response column to add.</summary>
        public string ResponseColumnName = "Response";

        /// <summary>How rows become prompts: <see cref="InstructionPromptFormat.Alpaca"/>, <see cref="InstructionPromptFormat.Phi3"/> or a custom one.</summary>
        public InstructionPromptFormat PromptFormat = InstructionPromptFormat.Alpaca;

        /// <summary>Learn the responses only: prompt tokens get no loss.</summary>
        public bool MaskPrompt;

        /// <summary>Training texts are cut to this many tokens (and to the context length).</summary>
        public int AllowedMaxLength = 1024;

        /// <summary>Sequences per optimizer step.</summary>
        public int BatchSize = 8;

        /// <summary>Passes over the training data.</summary>
        public int Epochs = 2;

        /// <summary>AdamW's learning rate.</summary>
        public double LearningRate = 5e-5;

        /// <summary>AdamW's weight decay on matrices.</summary>
        public double WeightDecay = 0.1;

        /// <summary>Evaluate every this many steps (0: after each epoch).</summary>
        public int EvaluationInterval = 5;

        /// <summary>Data to evaluate the loss on during training, with the same columns as the training data.</summary>
        public IDataView? ValidationSet;

        /// <summary>Seed of initialisation, shuffling and dropout.</summary>
        public int Seed = 123;

        /// <summary>Called after every training step with its loss, and with train and validation losses at evaluations.</summary>
        public Action<InstructionTuningProgress>? Progress;

        /// <summary>
        /// <see cref="TrainableLayers.All"/> (the book's chapter 7) or <see cref="TrainableLayers.LoRA"/>: low-rank adapters on
        /// the frozen model (the book's appendix E), folded into the weights after training.
        /// </summary>
        public TrainableLayers TrainableLayers = TrainableLayers.All;

        /// <summary>Inner dimension of the adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
        public int LoRARank = 16;

        /// <summary>Scale of the adapters' update (the book's: alpha times x A B) when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
        public double LoRAAlpha = 16;

        /// <summary>Which linear layers of every block get adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
        public LoRATargets LoRATargets = LoRATargets.All;

        internal InstructionTuningOptions ToTrainingOptions() => new()
        {
            LoRA = TrainableLayers switch
            {
                TrainableLayers.All => null,
                TrainableLayers.LoRA => new LoRAOptions { Rank = LoRARank, Alpha = LoRAAlpha, Targets = LoRATargets },
                _ => throw new ArgumentException(
                    $"Instruction tuning trains TrainableLayers.All or TrainableLayers.LoRA, not {TrainableLayers}.", nameof(TrainableLayers)),
            },
            BatchSize = BatchSize,
            Epochs = Epochs,
            LearningRate = LearningRate,
            WeightDecay = WeightDecay,
            EvaluationInterval = EvaluationInterval,
            Seed = Seed,
            AllowedMaxLength = AllowedMaxLength,
            MaskPrompt = MaskPrompt,
        };
    }

    private readonly MLContext _mlContext;
    private readonly Options _options;

    /// <summary>Creates the estimator in <paramref name="mlContext"/>, whose <c>CancelExecution</c> then stops training and generation.</summary>
    public Gpt2InstructionTuner(MLContext mlContext, Options options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.PromptFormat);
        options.Validate();
        options.ToTrainingOptions().Validate();
        _mlContext = mlContext.RegisterGpt2Components();
        _options = options;
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        TextGenerationSchema.Check(_mlContext, inputSchema, [_options.InstructionColumnName, _options.InputColumnName], _options.ResponseColumnName,
            _options.OutputColumnName);

    /// <summary>Fine-tunes the model on the rows of <paramref name="input"/>.</summary>
    public Gpt2InstructionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        List<InstructionSequence> train = ReadSequences(input, "training");
        List<InstructionSequence>? validation = _options.ValidationSet is null ? null : ReadSequences(_options.ValidationSet, "validation");

        new MLContextCancellation(_mlContext).ThrowIfCancelled(); // before loading a model in a context that can no longer fit
        random.manual_seed(_options.Seed);
        TextGenerationEngine engine = _options.CreateEngine(_mlContext);
        try
        {
            var cancellation = new MLContextCancellation(_mlContext);
            new InstructionTrainer(engine.Model, _options.ToTrainingOptions()).Train(train, validation, progress =>
            {
                cancellation.ThrowIfCancelled();
                _options.Progress?.Invoke(progress);
            }, _options.CancellationToken);
            // Generation and the saved model use the adapters folded in: GPT-2's own layout and size.
            engine.Model.MergeLoRA();
            return new Gpt2InstructionTransformer(_mlContext, engine, _options.PromptFormat,
                _options.InstructionColumnName, _options.InputColumnName, _options.ResponseColumnName);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    internal static string RequireInstruction(string? instruction, string columnName) =>
        string.IsNullOrEmpty(instruction)
            ? throw new InvalidOperationException($"Column '{columnName}' holds an empty or missing instruction; every row needs one. Filter out such rows first.")
            : instruction;

    private List<InstructionSequence> ReadSequences(IDataView data, string which)
    {
        string[] names = [_options.InstructionColumnName, _options.InputColumnName, _options.OutputColumnName];
        DataViewSchema.Column[] columns = [.. names.Select(name => data.Schema.GetColumnOrNull(name) is { Type: TextDataViewType } column ? column
            : throw new ArgumentException($"The {which} data needs a text column '{name}' (instruction, input and output columns are set in the options), " +
                $"but it has {(data.Schema.GetColumnOrNull(name) is { } other ? $"one of type {other.Type}" : "none")}."))];
        var rows = new List<InstructionSequence>();
        using DataViewRowCursor cursor = data.GetRowCursor(columns);
        ValueGetter<ReadOnlyMemory<char>>[] getters = [.. columns.Select(cursor.GetGetter<ReadOnlyMemory<char>>)];
        ReadOnlyMemory<char> instruction = default, inputText = default, output = default;
        while (cursor.MoveNext())
        {
            getters[0](ref instruction);
            getters[1](ref inputText);
            getters[2](ref output);
            if (instruction.IsEmpty)
                throw new ArgumentException($"Row {rows.Count} of the {which} data has an empty instruction in column '{names[0]}'; remove such rows first.");
            var example = new InstructionExample(instruction.ToString(), inputText.ToString(), output.ToString());
            rows.Add(InstructionSequence.Create(example, _options.PromptFormat, Gpt2Tokenizer.Default));
        }
        if (rows.Count == 0)
            throw new ArgumentException($"The {which} data holds no rows.");
        return rows;
    }
}
