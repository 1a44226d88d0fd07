using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>
/// Fine-tunes a <see cref="Gpt2SequenceClassifier"/> with cross-entropy and AdamW (the book's chapter 6) through the
/// <see cref="TrainingLoop"/>: this class supplies the batches, the loss, and the accuracies. Each batch is padded only
/// to its own longest sequence, which gives the same results as padding to a global maximum.
/// </summary>
public sealed class SequenceClassificationTrainer
{
    private readonly Gpt2SequenceClassifier _model;
    private readonly SequenceClassificationOptions _options;

    /// <summary>Creates a trainer for <paramref name="model"/>; set its trainable layers first (or <see cref="FineTuningOptions.LoRA"/>).</summary>
    public SequenceClassificationTrainer(Gpt2SequenceClassifier model, SequenceClassificationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _model = model;
        _options = options;
    }

    /// <summary>Raised every <see cref="TrainingOptions.LogInterval"/> optimizer steps and after the last, on the training thread; it may throw to stop the run.</summary>
    public event Action<TrainingStep>? StepCompleted;

    /// <summary>
    /// Raised after every evaluation with <see cref="TrainingMetrics.TrainLoss"/> and <see cref="TrainingMetrics.TrainAccuracy"/>
    /// (over the steps since the previous evaluation) and, with validation data, <see cref="TrainingMetrics.ValidationLoss"/>
    /// and <see cref="TrainingMetrics.ValidationAccuracy"/>.
    /// </summary>
    public event Action<TrainingEvaluation>? Evaluated;

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> when given; with
    /// <see cref="FineTuningOptions.Resume"/>, continues from the newest checkpoint of the checkpoint directory when there is one.
    /// </summary>
    /// <param name="train">Training sequences; a last batch smaller than the batch size is dropped each epoch (as the book does) unless it is the only one.</param>
    /// <param name="validation">Sequences to evaluate on, or null.</param>
    /// <param name="cancellationToken">Stops the run before the next step.</param>
    /// <returns>The evaluation after the last step.</returns>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public TrainingEvaluation Train(IReadOnlyList<ClassificationExample> train, IReadOnlyList<ClassificationExample>? validation = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        Validate(train, nameof(train));
        if (validation is not null)
            Validate(validation, nameof(validation));

        if (_options.LoRA is LoRAOptions lora)
            _model.SetTrainableLayers(TrainableLayers.LoRA, lora);
        if (!_model.parameters().Any(p => p.requires_grad))
            throw new InvalidOperationException("No parameter is trainable; choose trainable layers before training.");
        using var task = new Task(this, train, validation);
        return FineTuningRun.Run(_model, _options, task, step => StepCompleted?.Invoke(step), evaluation => Evaluated?.Invoke(evaluation), cancellationToken);
    }

    /// <summary>Mean cross-entropy loss and accuracy of the model on <paramref name="examples"/>, in evaluation mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<ClassificationExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Validate(examples, nameof(examples));
        using var inference = new InferenceScope(_model);
        double lossSum = 0;
        long correct = 0;
        foreach (ClassificationExample[] chunk in examples.Chunk(_options.BatchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor logits, Tensor labels) = Forward(chunk);
            lossSum += F.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            correct += (logits.argmax(-1) == labels).sum().item<long>();
        }
        return (lossSum / examples.Count, (double)correct / examples.Count);
    }

    // Logits in float32 whatever the model's precision: the softmax of the loss runs in float32.
    private (Tensor Logits, Tensor Labels) Forward(IReadOnlyList<ClassificationExample> examples)
    {
        (Tensor ids, Tensor lengths) = RightPaddedBatch.Create([.. examples.Select(e => e.TokenIds)], _model.Transformer.Device, _model.PaddingId, _model.Transformer.Config.VocabSize);
        Tensor labels = HostBatch.Int64([.. examples.Select(e => (long)e.Label)], [examples.Count], _model.Transformer.Device);
        return (_model.forward(ids, lengths).to(float32), labels);
    }

    private void Validate(IReadOnlyList<ClassificationExample> examples, string name)
    {
        if (examples.Count == 0)
            throw new ArgumentException($"The {name} data holds no examples.", name);
        int context = _model.Transformer.Config.ContextLength;
        for (int i = 0; i < examples.Count; i++)
        {
            ClassificationExample example = examples[i];
            if (example.TokenIds.Length == 0)
                throw new ArgumentException($"{name} example {i} has no tokens; every text needs at least one.", name);
            if (example.TokenIds.Length > context)
                throw new ArgumentException($"{name} example {i} has {example.TokenIds.Length} tokens, more than the context length {context}; truncate it first.", name);
            if (example.Label < 0 || example.Label >= _model.ClassCount)
                throw new ArgumentException($"{name} example {i} has label {example.Label}, outside [0, {_model.ClassCount}).", name);
        }
    }

    /// <summary>Classification as the loop sees it: shuffled example batches, cross-entropy, and accuracies counted on the device.</summary>
    private sealed class Task : ITrainingTask<ClassificationExample[]>, IDisposable
    {
        private readonly SequenceClassificationTrainer _trainer;
        private readonly FineTuningData<ClassificationExample> _data;
        private readonly IReadOnlyList<ClassificationExample>? _validation;
        private readonly Tensor _correct; // training predictions right since the previous evaluation, on the device
        private long _counted;

        public Task(SequenceClassificationTrainer trainer, IReadOnlyList<ClassificationExample> train, IReadOnlyList<ClassificationExample>? validation)
        {
            _trainer = trainer;
            _data = new FineTuningData<ClassificationExample>(train, trainer._options.BatchSize, trainer._options.Seed);
            _validation = validation;
            using var scope = NewDisposeScope(); // reading the device makes a tensor wrapper
            _correct = zeros(1, int64, trainer._model.Transformer.Device).DetachFromDisposeScope();
        }

        public int BatchesPerEpoch => _data.BatchesPerEpoch;

        public string DataDescription => _data.Description;

        public IEnumerable<ClassificationExample[]> Batches(int epoch, int skip) => _data.Batches(epoch, skip);

        public (Tensor Loss, long Tokens) Loss(ClassificationExample[] batch)
        {
            (Tensor logits, Tensor labels) = _trainer.Forward(batch);
            using (no_grad())
                _correct.add_((logits.argmax(-1) == labels).sum());
            _counted += batch.Length;
            return (F.cross_entropy(logits, labels), batch.Sum(e => (long)e.TokenIds.Length));
        }

        public (IReadOnlyDictionary<string, double> Metrics, int[]? Sample) Evaluate(double trainingLossSinceEvaluation)
        {
            var metrics = new Dictionary<string, double>
            {
                [TrainingMetrics.TrainLoss] = trainingLossSinceEvaluation,
                [TrainingMetrics.TrainAccuracy] = (double)_correct.item<long>() / _counted,
            };
            _correct.zero_();
            _counted = 0;
            if (_validation is not null)
            {
                (metrics[TrainingMetrics.ValidationLoss], metrics[TrainingMetrics.ValidationAccuracy]) = _trainer.Evaluate(_validation);
            }
            return (metrics, null);
        }

        public void Dispose() => _correct.Dispose();
    }
}
