using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

/// <summary>
/// Where each new token sits and what it may attend to, computed once per forward pass for every block: positions
/// [batch or 1, tokens] counting real tokens only, and either a boolean mask [batch or 1, 1, tokens, cached + tokens]
/// or the plain causal flag for a first pass without padding (which lets scaled_dot_product_attention take its fast path).
/// </summary>
internal sealed record AttentionLayout(Tensor Positions, Tensor? Mask, bool IsCausal)
{
    public static AttentionLayout Create(Tensor inputIds, KeyValueCache? cache, Tensor? attentionMask)
    {
        long batch = inputIds.shape[0], length = inputIds.shape[1];
        long past = cache?.Length ?? 0, total = past + length;
        Device device = inputIds.device;
        if (attentionMask is null)
        {
            Tensor positions = arange(past, total, dtype: int64, device: device).unsqueeze(0);
            if (past == 0)
                return new(positions, null, IsCausal: length > 1);
            return new(positions, length > 1 ? CausalMask(past, length, device) : null, false);
        }
        Tensor keep = attentionMask.to(@bool);
        Tensor realPositions = (keep.to(int64).cumsum(1) - 1).clamp_min(0).narrow(1, past, length);
        // A padded query attends to itself only, which keeps its softmax finite; real tokens never see padding.
        Tensor diagonal = arange(total, device: device).unsqueeze(0) == arange(past, total, device: device).unsqueeze(1);
        Tensor mask = (keep.view(batch, 1, 1, total) & CausalMask(past, length, device)) | diagonal;
        return new(realPositions, mask, false);
    }

    private static Tensor CausalMask(long past, long length, Device device) =>
        arange(past + length, device: device).unsqueeze(0) <= arange(past, past + length, device: device).unsqueeze(1);
}
