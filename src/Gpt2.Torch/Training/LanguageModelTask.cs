using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>Pretraining as the <see cref="TrainingLoop"/> sees it: next-token batches, their cross-entropy, and the book's evaluation with a sample.</summary>
internal sealed class LanguageModelTask(CausalLanguageModel model, LanguageModelTrainingOptions options, NextTokenBatches train, NextTokenBatches validation)
    : ITrainingTask<(Tensor Inputs, Tensor Targets)>
{
    /// <summary>What a resumed run must be given again: the training batches' count, size, shuffling and seed.</summary>
    private sealed record DataShape(int Batches, int BatchSize, bool Shuffle, int Seed);

    public int BatchesPerEpoch => train.Count;

    public string DataDescription => new DataShape(train.Count, train.BatchSize, train.Shuffle, train.Seed).ToString();

    public IEnumerable<(Tensor Inputs, Tensor Targets)> Batches(int epoch, int skip) => train.Batches(epoch, skip);

    public (Tensor Loss, long Tokens) Loss((Tensor Inputs, Tensor Targets) batch) =>
        (LanguageModelLoss.OfBatch(model, batch.Inputs, batch.Targets), batch.Inputs.numel());

    public (IReadOnlyDictionary<string, double> Metrics, int[]? Sample) Evaluate(double trainingLossSinceEvaluation)
    {
        double trainLoss = LanguageModelLoss.Evaluate(model, train, options.EvaluationBatches);
        double validationLoss = LanguageModelLoss.Evaluate(model, validation, options.EvaluationBatches);
        int[]? sample = null;
        if (options.SamplePrompt is { } prompt && double.IsFinite(trainLoss) && double.IsFinite(validationLoss))
        {
            using var generator = new Gpt2Generator(model, options.Tokenizer);
            sample = generator.Generate(prompt, options.SampleGeneration);
        }
        return (new Dictionary<string, double> { [TrainingMetrics.TrainLoss] = trainLoss, [TrainingMetrics.ValidationLoss] = validationLoss }, sample);
    }
}
