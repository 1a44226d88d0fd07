using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// A row's tokens (prompt, then generated) as the penalties read them: which tokens occur anywhere in the row and how
/// often each was generated, as vectors over the vocabulary on the logits' device. Each vector is built from the whole
/// history the first time a processor asks for it, then updated by the one token a decode step adds.
/// </summary>
internal sealed class RowHistory : IDisposable
{
    private IReadOnlyList<int> _tokens = [];
    private int _count;              // the history's length at the last update (the caller's list may since have grown)
    private int _last = -1;          // and its last token
    private int _promptLength;
    private Tensor? _present;        // bool [vocabulary]: the token occurs in the prompt or the output
    private Tensor? _outputCounts;   // float32 [vocabulary]: how many times the token was generated

    /// <summary>The row's tokens: the prompt, then the generated tokens.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>How many of <see cref="Tokens"/> are the prompt.</summary>
    public int PromptLength => _promptLength;

    /// <summary>
    /// Takes the row's tokens for the coming step. A history one token longer than the last one (the decode loop's
    /// contract) updates the vectors in place; any other history rebuilds them from scratch when next asked for.
    /// </summary>
    public void Update(IReadOnlyList<int> tokens, int promptLength)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (promptLength < 0 || promptLength > tokens.Count)
            throw new ArgumentOutOfRangeException(nameof(promptLength), promptLength, $"The prompt length must be from 0 to the history's {tokens.Count} tokens.");
        bool grewByOne = promptLength == _promptLength && tokens.Count == _count + 1 && _count >= promptLength
            && (_count == 0 || tokens[_count - 1] == _last);
        if (grewByOne)
        {
            int token = tokens[^1];
            _present?.narrow(0, token, 1).fill_(true);
            _outputCounts?.narrow(0, token, 1).add_(1);
        }
        else
        {
            Forget();
        }
        _tokens = tokens;
        _count = tokens.Count;
        _last = tokens.Count == 0 ? -1 : tokens[^1];
        _promptLength = promptLength;
    }

    /// <summary>Whether each token of the vocabulary occurs in the row, prompt or output: bool [vocabulary] on <paramref name="logits"/>' device.</summary>
    public Tensor Present(Tensor logits) => _present ??= Build(logits, 0).gt(0).DetachFromDisposeScope();

    /// <summary>How many times each token of the vocabulary was generated (the prompt does not count): float32 [vocabulary] on <paramref name="logits"/>' device.</summary>
    public Tensor OutputCounts(Tensor logits) => _outputCounts ??= Build(logits, _promptLength).to(float32).DetachFromDisposeScope();

    // Counts of the tokens from position `start` on, one bincount on the logits' device.
    private Tensor Build(Tensor logits, int start)
    {
        using var scope = NewDisposeScope();
        long vocabulary = logits.shape[^1];
        long[] ids = new long[_count - start];
        for (int i = start; i < _count; i++)
        {
            int token = _tokens[i];
            if (token < 0 || token >= vocabulary)
                throw new ArgumentOutOfRangeException(nameof(logits), token, $"Token {token} of the row's history is outside the logits' vocabulary of {vocabulary}.");
            ids[i - start] = token;
        }
        return tensor(ids, int64, logits.device).bincount(null, vocabulary).MoveToOuterDisposeScope();
    }

    private void Forget()
    {
        _present?.Dispose();
        _present = null;
        _outputCounts?.Dispose();
        _outputCounts = null;
    }

    /// <summary>Frees the vectors.</summary>
    public void Dispose() => Forget();
}
