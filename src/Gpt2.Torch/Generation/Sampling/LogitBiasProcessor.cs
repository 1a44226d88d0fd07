using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>OpenAI's <c>logit_bias</c>: a fixed value added to the logit of each named token.</summary>
internal sealed class LogitBiasProcessor : ILogitsProcessor, IDisposable
{
    private readonly long[] _tokens;
    private readonly double[] _biases;
    private Tensor? _ids;      // the token ids on the row's device, made at the first step
    private Tensor? _values;   // their biases, [1, count]

    /// <param name="bias">Token id to the value added to its logit (validated: -100 to 100).</param>
    public LogitBiasProcessor(IReadOnlyDictionary<int, double> bias)
    {
        _tokens = [.. bias.Keys.Select(token => (long)token)];
        _biases = [.. bias.Values];
    }

    public Tensor Process(Tensor logits, RowHistory history)
    {
        if (_ids is null)
        {
            long vocabulary = logits.shape[^1];
            if (_tokens.FirstOrDefault(token => token >= vocabulary, -1) is long outside and >= 0)
                throw new ArgumentOutOfRangeException(nameof(GenerationOptions.LogitBias), outside,
                    $"{nameof(GenerationOptions.LogitBias)} names token {outside}, outside the model's vocabulary of {vocabulary}; use token ids below {vocabulary}.");
            _ids = tensor(_tokens, int64, logits.device).DetachFromDisposeScope();
            _values = tensor(_biases, logits.dtype, logits.device).unsqueeze(0).DetachFromDisposeScope();
        }
        return logits.index_add(-1, _ids, _values!, 1);
    }

    public void Dispose()
    {
        _ids?.Dispose();
        _ids = null;
        _values?.Dispose();
        _values = null;
    }
}
