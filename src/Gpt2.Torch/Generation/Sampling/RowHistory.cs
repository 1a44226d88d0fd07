using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// A row's tokens (prompt, then generated) as the penalties read them, on the logits' device: the distinct tokens of
/// the whole row, and how often each token of the vocabulary was generated. Each is built from the whole history the
/// first time a processor asks for it, then updated in place by the one token a decode step adds.
/// </summary>
internal sealed class RowHistory : IDisposable
{
    private IReadOnlyList<int> _tokens = [];
    private int _count;              // the history's length at the last update (the caller's list may since have grown)
    private int _last = -1;          // and its last token
    private int _promptLength;
    private HashSet<int>? _seen;     // the distinct tokens, on the host, in the order of _distinct
    private Tensor? _distinct;       // int64 [capacity]: the distinct tokens in its first _seen.Count entries
    private Tensor? _outputCounts;   // float32 [vocabulary]: how many times each token was generated

    /// <summary>The row's tokens: the prompt, then the generated tokens.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>How many of <see cref="Tokens"/> are the prompt.</summary>
    public int PromptLength => _promptLength;

    /// <summary>
    /// Takes the row's tokens for the coming step. A history one token longer than the last one (the decode loop's
    /// contract) updates what was built in place; any other history has it rebuilt from scratch when next asked for.
    /// </summary>
    public void Update(IReadOnlyList<int> tokens, int promptLength)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (promptLength < 0 || promptLength > tokens.Count)
            throw new ArgumentOutOfRangeException(nameof(promptLength), promptLength, $"The prompt length must be from 0 to the history's {tokens.Count} tokens.");
        bool grewByOne = promptLength == _promptLength && tokens.Count == _count + 1 && _count >= promptLength
            && (_count == 0 || tokens[_count - 1] == _last);
        _tokens = tokens;
        _count = tokens.Count;
        _last = tokens.Count == 0 ? -1 : tokens[^1];
        _promptLength = promptLength;
        if (!grewByOne)
        {
            Forget();
            return;
        }
        if (_seen is not null)
            AddDistinct(_last);
        _outputCounts?.narrow(0, _last, 1).add_(1);
    }

    /// <summary>The distinct tokens of the row, prompt and output: int64 [count] on <paramref name="logits"/>' device.</summary>
    public Tensor DistinctTokens(Tensor logits)
    {
        if (_seen is null)
        {
            CheckTokens(logits, 0);
            _seen = [];
            _distinct = zeros(Math.Max(16, _count * 2), int64, logits.device).DetachFromDisposeScope();
            for (int i = 0; i < _count; i++)
                AddDistinct(_tokens[i]);
        }
        return _distinct!.narrow(0, 0, _seen.Count);
    }

    /// <summary>How many times each token of the vocabulary was generated (the prompt does not count): float32 [vocabulary] on <paramref name="logits"/>' device.</summary>
    public Tensor OutputCounts(Tensor logits)
    {
        if (_outputCounts is null)
        {
            using var scope = NewDisposeScope();
            long[] generated = CheckTokens(logits, _promptLength);
            _outputCounts = tensor(generated, int64, logits.device).bincount(null, logits.shape[^1]).to(float32).DetachFromDisposeScope();
        }
        return _outputCounts;
    }

    // A device-side list that doubles when full, so that a new token costs one fill, not a copy from the host.
    private void AddDistinct(int token)
    {
        if (!_seen!.Add(token))
            return;
        int count = _seen.Count;
        if (count > _distinct!.shape[0])
        {
            Tensor larger = zeros(_distinct.shape[0] * 2, int64, _distinct.device).DetachFromDisposeScope();
            larger.narrow(0, 0, count - 1).copy_(_distinct.narrow(0, 0, count - 1));
            _distinct.Dispose();
            _distinct = larger;
        }
        _distinct.narrow(0, count - 1, 1).fill_(token);
    }

    // The history's tokens from `start` on, checked against the logits' vocabulary.
    private long[] CheckTokens(Tensor logits, int start)
    {
        long vocabulary = logits.shape[^1];
        long[] ids = new long[_count - start];
        for (int i = start; i < _count; i++)
        {
            int token = _tokens[i];
            if (token < 0 || token >= vocabulary)
                throw new ArgumentOutOfRangeException(nameof(logits), token, $"Token {token} of the row's history is outside the logits' vocabulary of {vocabulary}.");
            ids[i - start] = token;
        }
        return ids;
    }

    private void Forget()
    {
        _seen = null;
        _distinct?.Dispose();
        _distinct = null;
        _outputCounts?.Dispose();
        _outputCounts = null;
    }

    /// <summary>Frees the device vectors.</summary>
    public void Dispose() => Forget();
}
