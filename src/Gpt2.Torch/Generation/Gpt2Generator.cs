using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>Autoregressive decoding with a <see cref="Gpt2Model"/>, using its key/value cache.</summary>
public sealed class Gpt2Generator
{
    private readonly Gpt2Model _model;

    /// <summary>Creates a generator over <paramref name="model"/>.</summary>
    public Gpt2Generator(Gpt2Model model)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
    }

    /// <summary>
    /// The prompt followed by up to <see cref="GenerationOptions.MaxNewTokens"/> generated tokens.
    /// When prompt and output outgrow the context, the model sees only the last context-length tokens.
    /// </summary>
    public int[] Generate(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (prompt.Count == 0)
            throw new ArgumentException("The prompt holds no tokens; give at least one (for example <|endoftext|>, 50256).", nameof(prompt));

        var tokens = new List<int>(prompt.Count + options.MaxNewTokens);
        tokens.AddRange(prompt);
        int context = _model.Config.ContextLength;
        Generator? generator = options.Seed is long seed ? new Generator((ulong)seed, _model.Device) : null;

        bool wasTraining = _model.training;
        _model.eval();
        try
        {
            using var noGrad = no_grad();
            using KeyValueCache? cache = options.UseCache ? _model.CreateCache(batchSize: 1) : null;
            for (int step = 0; step < options.MaxNewTokens; step++)
            {
                using var scope = NewDisposeScope();
                Tensor logits = NextLogits(tokens, cache, context);
                int next = (int)TokenSampler.Next(logits, options, generator).item<long>();
                tokens.Add(next);
                if (next == options.EndOfTextId)
                    break;
            }
        }
        finally
        {
            _model.train(wasTraining);
        }
        return [.. tokens];
    }

    // Logits [1, vocab] for the token after `tokens`. With a cache, feeds only what the cache has not seen;
    // once the window slides past the context, the cache no longer holds the right positions and is refilled.
    private Tensor NextLogits(List<int> tokens, KeyValueCache? cache, int context)
    {
        int start = Math.Max(0, tokens.Count - context);
        if (cache is not null && start > 0)
            cache.Reset();
        int fed = cache is null ? start : start + (int)cache.Length;
        Tensor input = tensor(tokens.GetRange(fed, tokens.Count - fed).Select(t => (long)t).ToArray(), int64, _model.Device).unsqueeze(0);
        return _model.Forward(input, cache).select(1, -1);
    }
}
