using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>
/// Instruction fine-tuning of a <see cref="Gpt2Model"/> (the book's chapter 7): batches collated by
/// <see cref="InstructionCollator"/>, next-token cross-entropy that skips <see cref="InstructionCollator.IgnoreIndex"/>
/// targets, and AdamW, through the <see cref="TrainingLoop"/> (this class supplies the batches and the loss).
/// </summary>
public sealed class InstructionTrainer
{
    private readonly Gpt2Model _model;
    private readonly InstructionTuningOptions _options;
    private readonly InstructionCollator _collator;

    /// <summary>Creates a trainer for <paramref name="model"/>.</summary>
    public InstructionTrainer(Gpt2Model model, InstructionTuningOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.EndOfTextId < 0 || options.EndOfTextId >= model.Config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(options), options.EndOfTextId,
                $"InstructionTuningOptions.EndOfTextId is outside the model's vocabulary [0, {model.Config.VocabSize}); set it to the model's end-of-text token.");
        _model = model;
        _options = options;
        _collator = new InstructionCollator(Math.Min(options.AllowedMaxLength, model.Config.ContextLength), options.MaskPrompt, options.EndOfTextId);
    }

    /// <summary>Raised every <see cref="TrainingOptions.LogInterval"/> optimizer steps and after the last, on the training thread; it may throw to stop the run.</summary>
    public event Action<TrainingStep>? StepCompleted;

    /// <summary>
    /// Raised after every evaluation with <see cref="TrainingMetrics.TrainLoss"/> (the mean step loss since the previous
    /// evaluation) and, with validation data, <see cref="TrainingMetrics.ValidationLoss"/>.
    /// </summary>
    public event Action<TrainingEvaluation>? Evaluated;

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> when given; with
    /// <see cref="FineTuningOptions.Resume"/>, continues from the newest checkpoint of the checkpoint directory when there is one.
    /// </summary>
    /// <param name="train">Training rows; a last batch smaller than the batch size is dropped each epoch (as the book does) unless it is the only one.</param>
    /// <param name="validation">Rows to evaluate on, or null.</param>
    /// <param name="cancellationToken">Stops the run before the next step.</param>
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

        if (_options.LoRA is LoRAOptions lora)
            _model.AddLoRA(lora);
        return FineTuningRun.Run(_model, _options, new Task(this, train, validation),
            step => StepCompleted?.Invoke(step), evaluation => Evaluated?.Invoke(evaluation), cancellationToken);
    }

    /// <summary>Mean next-token loss over the non-ignored targets of <paramref name="rows"/>, in evaluation mode.</summary>
    public double Evaluate(IReadOnlyList<InstructionSequence> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            throw new ArgumentException("There are no rows to evaluate.", nameof(rows));
        using var inference = new InferenceScope(_model);
        double lossSum = 0;
        long targetCount = 0;
        foreach (InstructionSequence[] chunk in rows.Chunk(_options.BatchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor logits, Tensor targets) = Forward(chunk);
            lossSum += F.cross_entropy(logits, targets, ignore_index: InstructionCollator.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>();
            targetCount += (targets != InstructionCollator.IgnoreIndex).sum().item<long>();
        }
        return lossSum / Math.Max(1, targetCount);
    }

    // Logits [rows x length, vocab] in float32 whatever the model's precision (the loss's softmax runs in float32), and targets [rows x length], flattened for cross-entropy.
    private (Tensor Logits, Tensor Targets) Forward(IReadOnlyList<InstructionSequence> rows)
    {
        (Tensor inputs, Tensor targets) = _collator.Collate(rows, _model.Device);
        return (_model.forward(inputs).flatten(0, 1).to(float32), targets.flatten());
    }

    /// <summary>Instruction tuning as the loop sees it: shuffled collated batches and the next-token loss over non-ignored targets.</summary>
    private sealed class Task(InstructionTrainer trainer, IReadOnlyList<InstructionSequence> train, IReadOnlyList<InstructionSequence>? validation)
        : ITrainingTask<InstructionSequence[]>
    {
        private readonly FineTuningData<InstructionSequence> _data = new(train, trainer._options.BatchSize, trainer._options.Seed);

        public int BatchesPerEpoch => _data.BatchesPerEpoch;

        public string DataDescription => _data.Description;

        public IEnumerable<InstructionSequence[]> Batches(int epoch, int skip) => _data.Batches(epoch, skip);

        public (Tensor Loss, long Tokens) Loss(InstructionSequence[] batch)
        {
            (Tensor logits, Tensor targets) = trainer.Forward(batch);
            // Input tokens, padding included, as the book counts them.
            return (F.cross_entropy(logits, targets, ignore_index: InstructionCollator.IgnoreIndex), targets.numel());
        }

        public (IReadOnlyDictionary<string, double> Metrics, int[]? Sample) Evaluate(double trainingLossSinceEvaluation)
        {
            var metrics = new Dictionary<string, double> { [TrainingMetrics.TrainLoss] = trainingLossSinceEvaluation };
            if (validation is not null)
                metrics[TrainingMetrics.ValidationLoss] = trainer.Evaluate(validation);
            return (metrics, null);
        }
    }
}
