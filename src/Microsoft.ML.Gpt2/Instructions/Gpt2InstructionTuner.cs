using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Instructions;

/// <summary>
/// Instruction fine-tuning of GPT-2 (the book's chapter 7) inside an ML.NET pipeline: reads instruction, context (the
/// Alpaca format's input) and label (its output, the reference response) text columns, formats each row with a prompt format (Alpaca by default), trains with the book's collation,
/// and fits a <see cref="Gpt2InstructionTransformer"/> that adds the generated response. Create it with
/// <c>mlContext.Transforms.Text.Gpt2InstructionTuner(...)</c> or the constructor.
/// </summary>
public sealed class Gpt2InstructionTuner : IEstimator<Gpt2InstructionTransformer>
{
    /// <summary>Options of <see cref="Gpt2InstructionTuner"/>; the defaults are the book's.</summary>
    public sealed class Options : Gpt2FineTuningOptions
    {
        /// <summary>
        /// Sets the book's defaults: GPT-2 medium (355M) as the base model, every layer trainable, 2 epochs, evaluation every
        /// 5 steps, and up to 256 new tokens per response.
        /// </summary>
        public Options()
        {
            BaseModel = "355M";
            TrainableLayers = TrainableLayers.All;
            MaxEpochs = 2;
            EvaluationInterval = 5;
            Generation.Sampling = new GenerationOptions { MaxNewTokens = 256 };
        }

        /// <summary>The generated-response column to add.</summary>
        public string OutputColumnName = "Response";

        /// <summary>The instruction column (text).</summary>
        public string InstructionColumnName = "Instruction";

        /// <summary>The column of the text the instruction works on (the Alpaca format's "input"; text, empty when a row has none).</summary>
        public string ContextColumnName = "Input";

        /// <summary>The reference-response column (text) the model learns from (the Alpaca format's "output"); not read at prediction.</summary>
        public string LabelColumnName = "Output";

        /// <summary>How rows become prompts: <see cref="InstructionPromptFormat.Alpaca"/>, <see cref="InstructionPromptFormat.Phi3"/> or a custom one.</summary>
        public InstructionPromptFormat PromptFormat = InstructionPromptFormat.Alpaca;

        /// <summary>Learn the responses only: prompt tokens get no loss.</summary>
        public bool MaskPrompt;

        /// <summary>Training texts are cut to this many tokens (and to the context length).</summary>
        public int AllowedMaxLength = 1024;

        /// <summary>How the fitted transformer decodes responses.</summary>
        public Gpt2GenerationOptions Generation { get; } = new();

        /// <inheritdoc />
        internal override void Validate()
        {
            base.Validate();
            OptionChecks.Requires(TrainableLayers is TrainableLayers.All or TrainableLayers.LoRA, nameof(TrainableLayers),
                $"TrainableLayers is {TrainableLayers}; instruction tuning trains TrainableLayers.All or TrainableLayers.LoRA.");
            OptionChecks.AtLeast(AllowedMaxLength, 2, nameof(AllowedMaxLength), "1024");
            ArgumentNullException.ThrowIfNull(PromptFormat, nameof(PromptFormat));
            Generation.Validate();
        }

        internal InstructionTuningOptions ToTrainingOptions()
        {
            InstructionTuningOptions options = ToTrainingOptions<InstructionTuningOptions>() with { AllowedMaxLength = AllowedMaxLength, MaskPrompt = MaskPrompt };
            options.Validate();
            return options;
        }
    }

    private readonly MLContext _mlContext;
    private readonly Options _options;

    /// <summary>Creates the estimator in <paramref name="mlContext"/>, whose <c>CancelExecution</c> then stops training and generation.</summary>
    public Gpt2InstructionTuner(MLContext mlContext, Options options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        options.ToTrainingOptions();
        _mlContext = mlContext.RegisterGpt2Components();
        _options = options;
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        TextGenerationSchema.Check(_mlContext, inputSchema, [_options.InstructionColumnName, _options.ContextColumnName], _options.OutputColumnName,
            _options.LabelColumnName);

    /// <summary>Fine-tunes the model on the rows of <paramref name="input"/>.</summary>
    public Gpt2InstructionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        LanguageModelTokenizer tokenizer = _options.BaseModel.LoadTokenizer(_options.DownloadProgress, _options.CancellationToken);
        List<InstructionSequence> train = ReadSequences(input, "training", tokenizer);
        List<InstructionSequence>? validation = _options.ValidationSet is null ? null : ReadSequences(_options.ValidationSet, "validation", tokenizer);

        new MLContextCancellation(_mlContext).ThrowIfCancelled(); // before loading a model in a context that can no longer fit
        _options.SeedRandomness();
        TextGenerationEngine engine = TextGenerationEngine.Load(_mlContext, _options, _options.Generation);
        try
        {
            var cancellation = new MLContextCancellation(_mlContext);
            using var trainer = new InstructionTrainer(engine.Model, _options.ToTrainingOptions() with { EndOfTextId = engine.Tokenizer.EndOfTextId });
            trainer.StepCompleted += step =>
            {
                cancellation.ThrowIfCancelled();
                _options.StepCompleted?.Invoke(step);
            };
            trainer.Evaluated += evaluation => _options.Evaluated?.Invoke(evaluation);
            trainer.Train(train, validation, _options.CancellationToken);
            // Generation and the saved model use the adapters folded in: GPT-2's own layout and size.
            engine.Model.MergeLoRA();
            return new Gpt2InstructionTransformer(_mlContext, engine, _options.PromptFormat,
                _options.InstructionColumnName, _options.ContextColumnName, _options.OutputColumnName);
        }
        catch
        {
            _options.Release(engine.Model);
            throw;
        }
    }

    internal static string RequireInstruction(string? instruction, string columnName) =>
        string.IsNullOrEmpty(instruction)
            ? throw new InvalidOperationException($"Column '{columnName}' holds an empty or missing instruction; every row needs one. Filter out such rows first.")
            : instruction;

    private List<InstructionSequence> ReadSequences(IDataView data, string which, LanguageModelTokenizer tokenizer)
    {
        string[] names = [_options.InstructionColumnName, _options.ContextColumnName, _options.LabelColumnName];
        DataViewSchema.Column[] columns = [.. names.Select(name => data.Schema.GetColumnOrNull(name) is { Type: TextDataViewType } column ? column
            : throw new ArgumentException($"The {which} data needs a text column '{name}' (the instruction, context and label columns are set in the options), " +
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
            rows.Add(InstructionSequence.Create(example, _options.PromptFormat, tokenizer));
        }
        if (rows.Count == 0)
            throw new ArgumentException($"The {which} data holds no rows.");
        return rows;
    }
}
