namespace Gpt2.Torch.Generation;

/// <summary>
/// The text of one generation, streamed in pieces as the model writes it (see
/// <see cref="Gpt2TextGenerationService.GenerateStreamingAsync(string, TextGenerationOptions?, CancellationToken)"/>); once enumerated to the end, <see cref="Result"/>
/// holds the token counts and why it stopped. It can be enumerated once.
/// </summary>
/// <remarks>
/// The pieces concatenate to exactly the <see cref="TextGenerationResult.Text"/> that
/// <see cref="Gpt2TextGenerationService.Generate"/> returns for the same prompt and options (greedy, or sampling with a
/// seed); no piece ends inside a UTF-8 character or holds part of a stop string.
/// </remarks>
public sealed class TextGenerationStream : IAsyncEnumerable<string>
{
    private readonly Func<TextGenerationStream, CancellationToken, IAsyncEnumerable<string>> _pieces;
    private int _enumerated;

    internal TextGenerationStream(Func<TextGenerationStream, CancellationToken, IAsyncEnumerable<string>> pieces) => _pieces = pieces;

    /// <summary>The counts and finish reason; null until the pieces have been enumerated to the end.</summary>
    public TextGenerationResult? Result { get; internal set; }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The stream was already enumerated (generate again for another run).</exception>
    public IAsyncEnumerator<string> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
            throw new InvalidOperationException("A text generation stream can be enumerated once; call GenerateStreamingAsync again to generate again.");
        return _pieces(this, cancellationToken).GetAsyncEnumerator(cancellationToken);
    }
}
