using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>The next-token cross-entropy of a <see cref="Gpt2Model"/> (the book's <c>calc_loss_batch</c> and <c>calc_loss_loader</c>).</summary>
public static class LanguageModelLoss
{
    /// <summary>
    /// Mean cross-entropy of the model's predictions for <paramref name="targets"/> [batch, tokens], in the model's current
    /// mode, as a float32 scalar: a bfloat16 model's logits are taken to float32 before the softmax.
    /// </summary>
    public static Tensor OfBatch(Gpt2Model model, Tensor inputs, Tensor targets)
    {
        Tensor logits = model.Forward(HostBatch.ToDevice(inputs, model.Device));
        TrainingPhases.End(TrainingPhase.Forward);
        return F.cross_entropy(logits.flatten(0, 1).to(float32), HostBatch.ToDevice(targets, model.Device).flatten());
    }

    /// <summary>
    /// The mean of the batch losses over the first <paramref name="maxBatches"/> batches of <paramref name="data"/>
    /// (all of them when null), with dropout off and without gradients; the model's mode is restored afterwards.
    /// </summary>
    public static double Evaluate(Gpt2Model model, NextTokenBatches data, int? maxBatches = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        int count = Math.Min(maxBatches ?? data.Count, data.Count);
        if (count < 1)
            throw new ArgumentException("There is no batch to evaluate: the text is shorter than one window, or maxBatches is below 1.", nameof(data));
        using var inference = new InferenceScope(model);
        double total = 0;
        foreach ((Tensor inputs, Tensor targets) in data.Batches().Take(count))
        {
            using (inputs)
            using (targets)
            using (NewDisposeScope())
                total += OfBatch(model, inputs, targets).item<float>();
        }
        return total / count;
    }
}
