using Gpt2.Torch.Generation;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Training;

/// <summary>How <see cref="LanguageModelTrainer"/> trains; the defaults are the book's chapter 5 run.</summary>
public sealed record LanguageModelTrainingOptions : TrainingOptions
{
    /// <inheritdoc />
    public override int Epochs { get; init; } = 10;

    /// <inheritdoc />
    public override double LearningRate { get; init; } = 4e-4;

    /// <summary>Evaluate after every this many steps (the book's <c>eval_freq</c>), starting after the first; 0 evaluates only at the end.</summary>
    public override int EvaluationInterval { get; init; } = 5;

    /// <summary>Batches of each data set whose mean loss is an evaluation's loss (the book's <c>eval_iter</c>): always the first ones.</summary>
    public int EvaluationBatches { get; init; } = 5;

    /// <summary>Tokens that each evaluation continues to show a sample of the model's text; null for no sample.</summary>
    public IReadOnlyList<int>? SamplePrompt { get; init; }

    /// <summary>How the evaluation samples are generated (the book: greedy, 50 tokens).</summary>
    public GenerationOptions SampleGeneration { get; init; } = new() { MaxNewTokens = 50 };

    /// <summary>
    /// The model's tokenizer, whose end-of-text and end-of-turn tokens stop the samples; the family's built-in one (GPT-2's)
    /// when null. A family without one (Llama, Qwen) needs it for <see cref="SamplePrompt"/>.
    /// </summary>
    /// <remarks>Not written into checkpoints' run state: it changes no step of the run.</remarks>
    [System.Text.Json.Serialization.JsonIgnore]
    public LanguageModelTokenizer? Tokenizer { get; init; }

    /// <inheritdoc />
    internal override bool EvaluatesAfter(long step, bool endOfEpoch) => EvaluationInterval > 0 && step % EvaluationInterval == 0;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        OptionChecks.AtLeast(EvaluationBatches, 1, nameof(EvaluationBatches), "5");
        OptionChecks.Requires(SamplePrompt is not { Count: 0 }, nameof(SamplePrompt), "SamplePrompt holds no tokens; give at least one, or null for no samples.");
        SampleGeneration.Validate();
    }
}
