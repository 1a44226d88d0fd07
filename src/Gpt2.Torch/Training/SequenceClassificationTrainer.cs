using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>
/// Fine-tunes a <see cref="Gpt2SequenceClassifier"/> with cross-entropy and AdamW (the book's chapter 6) through the
/// training loop: this class supplies the batches, the loss, and the accuracies. Each batch is padded only
/// to its own longest sequence, which gives the same results as padding to a global maximum.
/// </summary>
public sealed class SequenceClassificationTrainer : TrainerBase<Gpt2SequenceClassifier, SequenceClassificationOptions>
{
    /// <summary>
    /// Creates a trainer for <paramref name="model"/>, setting its trainable layers as <see cref="FineTuningOptions.TrainableLayers"/>
    /// and <see cref="FineTuningOptions.LoRA"/> say (or as set on the model when neither is); with
    /// <see cref="TrainingOptions.ResumeFromCheckpoint"/> and a checkpoint in the checkpoint directory, the model gets its
    /// weights and the run its state.
    /// </summary>
    /// <param name="model">The classifier to train; the caller keeps owning it.</param>
    /// <param name="options">How to train.</param>
    public SequenceClassificationTrainer(Gpt2SequenceClassifier model, SequenceClassificationOptions options)
        : base(model, options)
    {
    }

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> when given: each evaluation has
    /// <see cref="TrainingMetrics.TrainLoss"/> and <see cref="TrainingMetrics.TrainAccuracy"/> (over the steps since the
    /// previous evaluation) and, with validation data, <see cref="TrainingMetrics.ValidationLoss"/> and
    /// <see cref="TrainingMetrics.ValidationAccuracy"/>. The model is left in evaluation mode.
    /// </summary>
    /// <param name="train">Training sequences; a last batch smaller than the batch size is dropped each epoch (as the book does) unless it is the only one.</param>
    /// <param name="validation">Sequences to evaluate on, or null.</param>
    /// <param name="cancellationToken">Stops the run before the next step (with a checkpoint, when checkpoints are on).</param>
    /// <returns>The evaluation after the last step.</returns>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public TrainingEvaluation Train(IReadOnlyList<ClassificationExample> train, IReadOnlyList<ClassificationExample>? validation = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        Validate(train, nameof(train));
        if (validation is not null)
            Validate(validation, nameof(validation));
        using var task = new SequenceClassificationTask(this, train, validation);
        TrainingEvaluation final = Run(task, cancellationToken);
        Model.eval();
        return final;
    }

    /// <summary>Mean cross-entropy loss and accuracy of the model on <paramref name="examples"/>, in evaluation mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<ClassificationExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Validate(examples, nameof(examples));
        using var inference = new InferenceScope(Model);
        double lossSum = 0;
        long correct = 0;
        foreach (ClassificationExample[] chunk in examples.Chunk(Options.BatchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor logits, Tensor labels) = Forward(chunk);
            lossSum += F.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            correct += (logits.argmax(-1) == labels).sum().item<long>();
        }
        return (lossSum / examples.Count, (double)correct / examples.Count);
    }

    // Logits in float32 whatever the model's precision: the softmax of the loss runs in float32.
    internal (Tensor Logits, Tensor Labels) Forward(IReadOnlyList<ClassificationExample> examples)
    {
        (Tensor ids, Tensor lengths) = RightPaddedBatch.Create([.. examples.Select(e => e.TokenIds)], Model.Transformer.Device, Model.PaddingId, Model.Transformer.Config.VocabSize);
        Tensor labels = HostBatch.Int64([.. examples.Select(e => (long)e.Label)], [examples.Count], Model.Transformer.Device);
        return (Model.forward(ids, lengths).to(float32), labels);
    }

    private void Validate(IReadOnlyList<ClassificationExample> examples, string name)
    {
        if (examples.Count == 0)
            throw new ArgumentException($"The {name} data holds no examples.", name);
        int context = Model.Transformer.Config.ContextLength;
        for (int i = 0; i < examples.Count; i++)
        {
            ClassificationExample example = examples[i];
            if (example.TokenIds.Length == 0)
                throw new ArgumentException($"{name} example {i} has no tokens; every text needs at least one.", name);
            if (example.TokenIds.Length > context)
                throw new ArgumentException($"{name} example {i} has {example.TokenIds.Length} tokens, more than the context length {context}; truncate it first.", name);
            if (example.Label < 0 || example.Label >= Model.ClassCount)
                throw new ArgumentException($"{name} example {i} has label {example.Label}, outside [0, {Model.ClassCount}).", name);
        }
    }
}
