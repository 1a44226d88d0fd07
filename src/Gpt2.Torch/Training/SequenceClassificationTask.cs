using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>Classification as the <see cref="TrainingLoop"/> sees it: shuffled example batches, cross-entropy, and accuracies counted on the device.</summary>
internal sealed class SequenceClassificationTask : ITrainingTask<ClassificationExample[]>, IDisposable
{
    private readonly SequenceClassificationTrainer _trainer;
    private readonly FineTuningData<ClassificationExample> _data;
    private readonly IReadOnlyList<ClassificationExample>? _validation;
    private readonly Tensor _correct; // training predictions right since the previous evaluation, on the device
    private long _counted;

    public SequenceClassificationTask(SequenceClassificationTrainer trainer, IReadOnlyList<ClassificationExample> train, IReadOnlyList<ClassificationExample>? validation)
    {
        _trainer = trainer;
        _data = new FineTuningData<ClassificationExample>(train, trainer.Options.BatchSize, trainer.Options.Seed);
        _validation = validation;
        using var scope = NewDisposeScope(); // reading the device makes a tensor wrapper
        _correct = zeros(1, int64, trainer.Model.Transformer.Device).DetachFromDisposeScope();
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
            (metrics[TrainingMetrics.ValidationLoss], metrics[TrainingMetrics.ValidationAccuracy]) = _trainer.Evaluate(_validation);
        return (metrics, null);
    }

    public void Dispose() => _correct.Dispose();
}
