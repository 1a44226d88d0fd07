using Gpt2.Torch.Generation.Structured;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Constrained decoding to a <see cref="StructuredOutput"/> (the approach of llguidance, Outlines and XGrammar): each
/// step the row's recognizer takes the tokens generated since the last step, and every token whose bytes cannot
/// continue a valid output is set to minus infinity, as are ids beyond the tokenizer's vocabulary (padded logits).
/// Until the output is whole the end-of-text and special tokens are masked; once it is, only they remain (with the
/// tokens that may still extend it, such as more digits of a number at the very end).
/// </summary>
internal sealed class StructuredOutputProcessor : ILogitsProcessor
{
    private readonly TokenMasks _masks;
    private RecognizerState _state;
    private int _consumed;   // generated tokens the state has read

    public StructuredOutputProcessor(StructuredOutput output, LanguageModelTokenizer tokenizer)
    {
        _masks = JsonGrammar.For(output).MasksFor(TokenTrie.For(tokenizer));
        _state = _masks.Automaton.Start;
    }

    /// <summary>Where the recognizer stands after the tokens read so far.</summary>
    internal RecognizerState State => _state;

    public Tensor Process(Tensor logits, RowHistory history)
    {
        int generated = history.Tokens.Count - history.PromptLength;
        if (generated < _consumed)
        {
            _state = _masks.Automaton.Start;   // another history: read it from its start
            _consumed = 0;
        }
        for (; _consumed < generated; _consumed++)
            _state = _masks.Advance(_state, history.Tokens[history.PromptLength + _consumed]);

        ulong[] allowed = _masks.Allowed(_state);
        long width = logits.shape[^1];
        bool[] blocked = new bool[width];
        int vocabulary = Math.Min(_masks.Vocabulary.VocabularySize, (int)width);
        bool any = false;
        for (int id = 0; id < width; id++)
        {
            bool allow = id < vocabulary && (allowed[id >> 6] & (1UL << (id & 63))) != 0;
            blocked[id] = !allow;
            any |= allow;
        }
        if (!any)
            throw new InvalidOperationException("No token of the vocabulary can continue the structured output; the tokenizer lacks the single-byte tokens it needs.");
        // One transfer: the mask is built on the host and copied to the logits' device once.
        return logits.masked_fill(tensor(blocked, device: logits.device).unsqueeze(0), double.NegativeInfinity);
    }
}
