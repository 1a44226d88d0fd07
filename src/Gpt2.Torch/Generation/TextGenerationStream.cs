using System.Runtime.CompilerServices;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The text of one generation, streamed in pieces as the model writes it (see
/// <see cref="Gpt2TextGenerationService.GenerateStreamingAsync(string, GenerationOptions?, CancellationToken)"/>); once enumerated to the end, <see cref="Result"/>
/// holds the token counts and why it stopped. Enumerate it for the text pieces, or enumerate <see cref="Updates"/> for
/// the pieces with the log-probabilities of their tokens; either can be enumerated once.
/// </summary>
/// <remarks>
/// The pieces concatenate to exactly the <see cref="TextGenerationResult.Text"/> that
/// <see cref="Gpt2TextGenerationService.Generate"/> returns for the same prompt and options (greedy, or sampling with a
/// seed); no piece ends inside a UTF-8 character or holds part of a stop string.
/// </remarks>
public sealed class TextGenerationStream : IAsyncEnumerable<string>
{
    private readonly Func<TextGenerationStream, CancellationToken, IAsyncEnumerable<TextGenerationUpdate>> _updates;
    private int _enumerated;

    internal TextGenerationStream(Func<TextGenerationStream, CancellationToken, IAsyncEnumerable<TextGenerationUpdate>> updates) => _updates = updates;

    /// <summary>The counts and finish reason; null until the pieces have been enumerated to the end.</summary>
    public TextGenerationResult? Result { get; internal set; }

    /// <summary>
    /// The pieces with the log-probabilities of the tokens generated since the previous one (see
    /// <see cref="TextGenerationUpdate"/>); every generated token reports in exactly one update.
    /// </summary>
    public IAsyncEnumerable<TextGenerationUpdate> Updates => new UpdateSequence(this);

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The stream was already enumerated (generate again for another run).</exception>
    public IAsyncEnumerator<string> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        Texts(Start(cancellationToken), cancellationToken).GetAsyncEnumerator(cancellationToken);

    private IAsyncEnumerable<TextGenerationUpdate> Start(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
            throw new InvalidOperationException("A text generation stream can be enumerated once; call GenerateStreamingAsync again to generate again.");
        return _updates(this, cancellationToken);
    }

    private static async IAsyncEnumerable<string> Texts(IAsyncEnumerable<TextGenerationUpdate> updates, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (TextGenerationUpdate update in updates.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (update.Text.Length > 0)
                yield return update.Text;
        }
    }

    private sealed class UpdateSequence(TextGenerationStream stream) : IAsyncEnumerable<TextGenerationUpdate>
    {
        public IAsyncEnumerator<TextGenerationUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
            stream.Start(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }
}
