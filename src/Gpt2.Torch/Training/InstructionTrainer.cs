using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>
/// Instruction fine-tuning of a <see cref="CausalLanguageModel"/> (the book's chapter 7): batches collated by
/// <see cref="InstructionCollator"/>, next-token cross-entropy that skips <see cref="InstructionCollator.IgnoreIndex"/>
/// targets, and AdamW, through the one training loop (this class supplies the batches and the loss).
/// </summary>
public sealed class InstructionTrainer : TrainerBase<CausalLanguageModel, InstructionTuningOptions>
{
    private readonly InstructionCollator _collator;

    /// <summary>
    /// Creates a trainer for <paramref name="model"/>, setting its trainable parameters as
    /// <see cref="FineTuningOptions.TrainableLayers"/> and <see cref="FineTuningOptions.LoRA"/> say (or as set on the model
    /// when neither is); with <see cref="TrainingOptions.ResumeFromCheckpoint"/> and a checkpoint in the checkpoint
    /// directory, the model gets its weights and the run its state.
    /// </summary>
    /// <param name="model">The model to train; the caller keeps owning it.</param>
    /// <param name="options">How to train.</param>
    public InstructionTrainer(CausalLanguageModel model, InstructionTuningOptions options)
        : base(model, CheckEndOfText(model, options))
    {
        _collator = new InstructionCollator(Math.Min(options.AllowedMaxLength, model.Config.ContextLength), options.MaskPrompt, EndOfTextOf(model, options));
    }

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> when given: each evaluation has
    /// <see cref="TrainingMetrics.TrainLoss"/> (the mean step loss since the previous evaluation) and, with validation
    /// data, <see cref="TrainingMetrics.ValidationLoss"/>. The model is left in evaluation mode.
    /// </summary>
    /// <param name="train">Training rows; a last batch smaller than the batch size is dropped each epoch (as the book does) unless it is the only one.</param>
    /// <param name="validation">Rows to evaluate on, or null.</param>
    /// <param name="cancellationToken">Stops the run before the next step (with a checkpoint, when checkpoints are on).</param>
    /// <returns>The evaluation after the last step.</returns>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public TrainingEvaluation Train(IReadOnlyList<InstructionSequence> train, IReadOnlyList<InstructionSequence>? validation = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0)
            throw new ArgumentException("The training data holds no rows.", nameof(train));
        if (validation is { Count: 0 })
            throw new ArgumentException("The validation data holds no rows; pass null to train without validation.", nameof(validation));
        TrainingEvaluation final = Run(new InstructionTuningTask(this, train, validation), cancellationToken);
        Model.eval();
        return final;
    }

    /// <summary>Mean next-token loss over the non-ignored targets of <paramref name="rows"/>, in evaluation mode.</summary>
    public double Evaluate(IReadOnlyList<InstructionSequence> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            throw new ArgumentException("There are no rows to evaluate.", nameof(rows));
        using var inference = new InferenceScope(Model);
        double lossSum = 0;
        long targetCount = 0;
        foreach (InstructionSequence[] chunk in rows.Chunk(Options.BatchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor logits, Tensor targets) = Forward(chunk);
            lossSum += F.cross_entropy(logits, targets, ignore_index: InstructionCollator.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>();
            targetCount += (targets != InstructionCollator.IgnoreIndex).sum().item<long>();
        }
        return lossSum / Math.Max(1, targetCount);
    }

    // Logits [rows x length, vocab] in float32 whatever the model's precision (the loss's softmax runs in float32), and targets [rows x length], flattened for cross-entropy.
    internal (Tensor Logits, Tensor Targets) Forward(IReadOnlyList<InstructionSequence> rows)
    {
        (Tensor inputs, Tensor targets) = _collator.Collate(rows, Model.Device);
        return (Model.forward(inputs).flatten(0, 1).to(float32), targets.flatten());
    }

    private static InstructionTuningOptions CheckEndOfText(CausalLanguageModel model, InstructionTuningOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        OptionChecks.InRange(EndOfTextOf(model, options), 0, model.Config.VocabSize - 1, nameof(options.EndOfTextId), "the tokenizer's EndOfTextId");
        return options;
    }

    private static int EndOfTextOf(CausalLanguageModel model, InstructionTuningOptions options) =>
        options.EndOfTextId ?? model.Config.BuiltInTokenizer?.EndOfTextId ?? throw new ArgumentException(
            $"InstructionTuningOptions.EndOfTextId is not set, and a '{model.Config.ModelType}' model has no built-in tokenizer to take it from; set it to the tokenizer's EndOfTextId.",
            nameof(options));
}
