using Gpt2.Torch.Instructions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>Instruction tuning as the <see cref="TrainingLoop"/> sees it: shuffled collated batches and the next-token loss over non-ignored targets.</summary>
internal sealed class InstructionTuningTask(InstructionTrainer trainer, IReadOnlyList<InstructionSequence> train, IReadOnlyList<InstructionSequence>? validation)
    : ITrainingTask<InstructionSequence[]>
{
    private readonly FineTuningData<InstructionSequence> _data = new(train, trainer.Options.BatchSize, trainer.Options.Seed);

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
