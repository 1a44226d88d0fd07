using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>The next-token cross-entropy of a <see cref="CausalLanguageModel"/> (the book's <c>calc_loss_batch</c> and <c>calc_loss_loader</c>).</summary>
internal static class LanguageModelLoss
{
    /// <summary>
    /// Mean cross-entropy of the model's predictions for <paramref name="targets"/> [batch, tokens], in the model's current
    /// mode, as a float32 scalar: a bfloat16 model's logits are taken to float32 for the softmax (a slice of tokens at a time;
    /// see <see cref="OutputHeadCrossEntropy"/>). Targets of -100 are ignored, as <c>cross_entropy</c> does.
    /// </summary>
    public static Tensor OfBatch(CausalLanguageModel model, Tensor inputs, Tensor targets)
    {
        Tensor hidden = model.ComputeHiddenStates(HostBatch.ToDevice(inputs, model.Device));
        TrainingPhases.End(TrainingPhase.Forward);
        return OutputHeadCrossEntropy(hidden, model.OutputWeight, HostBatch.ToDevice(targets, model.Device));
    }

    /// <summary>
    /// The mean of the batch losses over the first <paramref name="maxBatches"/> batches of <paramref name="data"/>
    /// (all of them when null), with dropout off and without gradients; the model's mode is restored afterwards.
    /// </summary>
    public static double Evaluate(CausalLanguageModel model, NextTokenBatches data, int? maxBatches = null)
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

    /// <summary>
    /// Tokens whose float32 logits <see cref="OutputHeadCrossEntropy"/> takes at once on the CPU: a slice that stays in the
    /// cache while the softmax and its gradient pass over it.
    /// </summary>
    internal const long TokensPerSlice = 64;

    /// <summary>The same on a GPU, where each pass over a slice is a kernel launch: larger slices, fewer launches.</summary>
    internal const long GpuTokensPerSlice = 4096;

    /// <summary>
    /// Mean cross-entropy of the output head's logits <c>weight x hidden</c> for <paramref name="targets"/> (targets of -100
    /// ignored), a float32 scalar with the gradient of <c>cross_entropy(logits.to(float32), targets)</c>. The logits are one
    /// [vocab, tokens] tensor in the model's precision; the softmax runs in float32 on a slice of tokens at a time (a
    /// bfloat16 model's logits are never float32 all at once), and its gradient (softmax minus the one-hot target, over the
    /// count of targets) is written over the slice while it is at hand. When gradients are wanted, the head's two backward
    /// products follow at once and reach autograd through a term whose value is zero and whose gradient is theirs, so no
    /// logits-sized tensor lives until backward.
    /// </summary>
    /// <param name="hidden">The final hidden states [..., embedding].</param>
    /// <param name="weight">The head's weight [vocab, embedding], in the hidden states' precision.</param>
    /// <param name="targets">Target ids, int64, of the hidden states' leading shape.</param>
    internal static Tensor OutputHeadCrossEntropy(Tensor hidden, Tensor weight, Tensor targets)
    {
        using var scope = NewDisposeScope();
        Tensor states = hidden.reshape(-1, hidden.shape[^1]);
        Tensor ids = targets.reshape(-1);
        long tokens = states.shape[0];
        if (ids.shape[0] != tokens)
            throw new ArgumentException($"{ids.shape[0]} targets for {tokens} positions; give one target per position.", nameof(targets));
        bool hiddenGradient = is_grad_enabled() && hidden.requires_grad, weightGradient = is_grad_enabled() && weight.requires_grad;
        bool gradients = hiddenGradient || weightGradient;
        ScalarType softmaxType = promote_types(states.dtype, float32);
        Tensor logits, loss;
        using (no_grad())
        {
            // [vocab, tokens]: with a 50257-row weight this product is the faster layout (see Gpt2Model.ComputeLogits).
            logits = weight.matmul(states.t());
            Tensor valid = ids.ne(IgnoreIndex);
            Tensor safeIds = ids.masked_fill(valid.logical_not(), 0);
            Tensor weights = valid.to(softmaxType);
            Tensor count = weights.sum();
            Tensor lossSum = zeros(1, dtype: softmaxType, device: states.device);
            long sliceTokens = states.device_type == DeviceType.CPU ? TokensPerSlice : GpuTokensPerSlice;
            for (long start = 0; start < tokens; start += sliceTokens)
            {
                using var sliceScope = NewDisposeScope();
                long length = Math.Min(sliceTokens, tokens - start);
                Tensor slice = logits.narrow(1, start, length);
                Tensor z = slice.dtype == softmaxType ? slice : slice.to(softmaxType);
                Tensor logSumExp = z.logsumexp(0);
                Tensor target = safeIds.narrow(0, start, length).unsqueeze(0);
                Tensor w = weights.narrow(0, start, length);
                lossSum.add_(((logSumExp - z.gather(0, target).squeeze(0)) * w).sum());
                if (!gradients)
                    continue;
                z.sub_(logSumExp).exp_();
                z.scatter_add_(0, target, -w.unsqueeze(0));
                z.mul_((w / count).unsqueeze(0));
                if (!ReferenceEquals(z, slice))
                    slice.copy_(z);
            }
            loss = (lossSum / count).squeeze(0).to(float32);
        }
        if (gradients)
        {
            // sum(x * dL/dx) has the gradient dL/dx, times what backward brings (1 / accumulation steps). The hidden
            // states' term is float32 so that factor is not rounded to bfloat16 on the way; the head weight's term (a
            // vocabulary-sized product) stays in the model's precision.
            Tensor surrogate = zeros(1, dtype: softmaxType, device: states.device);
            if (hiddenGradient)
            {
                Tensor stateGradient;
                using (no_grad())
                    stateGradient = logits.t().matmul(weight).to(softmaxType);
                surrogate = surrogate + (states.to(softmaxType) * stateGradient).sum();
            }
            if (weightGradient)
            {
                Tensor headGradient;
                using (no_grad())
                    headGradient = logits.matmul(states);
                surrogate = surrogate + (weight * headGradient).sum().to(softmaxType);
            }
            loss = loss + (surrogate - surrogate.detach()).squeeze(0).to(float32);
        }
        return loss.MoveToOuterDisposeScope();
    }

    private const long IgnoreIndex = -100;
}
