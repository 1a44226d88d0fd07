using System.Runtime.InteropServices;
using Gpt2.Torch.Generation.Structured;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Constrained decoding to a <see cref="StructuredOutput"/> (the approach of llguidance, Outlines and XGrammar): each
/// step the row's recognizer takes the tokens generated since the last step, and every token whose bytes cannot
/// continue a valid output is set to minus infinity, as are ids beyond the tokenizer's vocabulary (padded logits).
/// Until the output is whole the end-of-text and special tokens are masked; once it is, only the end-of-text and
/// end-of-turn tokens remain (with any token that may still extend it, such as another digit of a number at the very
/// end).
/// </summary>
internal sealed class StructuredOutputProcessor : ILogitsProcessor, IDisposable
{
    // Byte b of an allowed-token bitset as eight bools, one per bit, true where the bit is clear (the token is blocked).
    private static readonly ulong[] BlockedBytes = [.. Enumerable.Range(0, 256).Select(b =>
        Enumerable.Range(0, 8).Where(bit => (b >> bit & 1) == 0).Aggregate(0UL, (bools, bit) => bools | 1UL << (8 * bit)))];

    // Held for the process's life: a Scalar made at the call from a double can be finalized by the collector while the
    // native call still reads it (its handle is all the call keeps), which fails at random under allocation pressure.
    private static readonly TorchSharp.Scalar MinusInfinity = double.NegativeInfinity;

    private readonly TokenMasks _masks;
    private RecognizerState _state;
    private int _consumed;            // generated tokens the state has read
    private RecognizerState? _masked; // the state _mask was made for
    private Tensor? _mask;            // bool [1, width] on the logits' device: true for blocked tokens

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

        long width = logits.shape[^1];
        // A state that repeats (every character of a free string is one) keeps its mask on the device.
        if (_mask is null || !_state.Equals(_masked) || _mask.shape[^1] != width || _mask.device != logits.device)
        {
            _mask?.Dispose();
            // One transfer: the mask is made on the host and copied to the logits' device once.
            bool[] blocked = Blocked(_masks.Allowed(_state), (int)width, out bool any);
            if (!any)
                throw new InvalidOperationException(_state.IsComplete
                    ? $"The structured output is complete, but none of its end tokens ({string.Join(", ", _masks.Vocabulary.EndIds)}) is among the model's {width} logits; use the tokenizer the model was trained with."
                    : $"No token among the model's {width} logits can continue the structured output; use the tokenizer the model was trained with.");
            _mask = tensor(blocked, device: logits.device).unsqueeze(0).DetachFromDisposeScope();
            _masked = _state;
        }
        return logits.masked_fill(_mask, MinusInfinity);
    }

    // True for each id of the logits that the bitset does not allow, ids beyond the vocabulary included.
    private bool[] Blocked(ulong[] allowed, int width, out bool any)
    {
        int vocabulary = Math.Min(_masks.Vocabulary.VocabularySize, width);
        bool[] blocked = new bool[width];
        ReadOnlySpan<byte> bits = MemoryMarshal.AsBytes(allowed.AsSpan());
        Span<ulong> eights = MemoryMarshal.Cast<bool, ulong>(blocked.AsSpan(0, vocabulary / 8 * 8));
        any = false;
        for (int i = 0; i < eights.Length; i++)
        {
            eights[i] = BlockedBytes[bits[i]];
            any |= bits[i] != 0;
        }
        for (int id = eights.Length * 8; id < width; id++)
        {
            bool allow = id < vocabulary && (allowed[id >> 6] & 1UL << (id & 63)) != 0;
            blocked[id] = !allow;
            any |= allow;
        }
        return blocked;
    }

    public void Dispose()
    {
        _mask?.Dispose();
        _mask = null;
    }
}
