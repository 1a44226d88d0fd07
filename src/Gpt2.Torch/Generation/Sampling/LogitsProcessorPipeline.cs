using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// A row's logits processors in the order <see cref="GenerationOptions"/> gives: logit bias, repetition penalty,
/// frequency and presence penalties, the structured output's mask, then (when sampling) temperature, top-k, top-p and
/// min-p. A processor that would
/// leave the logits unchanged for the options is left out. Greedy decoding stops after the penalties: the filters never
/// change which token is the most likely, and its log-probabilities are defined at temperature 1.
/// </summary>
internal sealed class LogitsProcessorPipeline : IDisposable
{
    private readonly ILogitsProcessor[] _processors;

    private LogitsProcessorPipeline(IEnumerable<ILogitsProcessor> processors) => _processors = [.. processors];

    /// <summary>The processors, in the order they run.</summary>
    public IReadOnlyList<ILogitsProcessor> Processors => _processors;

    /// <summary>Whether no processor runs: the logits go to the choice unchanged.</summary>
    public bool IsEmpty => _processors.Length == 0;

    /// <summary>The whole pipeline of a row with these (validated) options.</summary>
    /// <param name="options">The row's options.</param>
    /// <param name="tokenizer">The model's tokenizer: the structured output's mask is built from its vocabulary.</param>
    /// <exception cref="ArgumentException">The options ask for a structured output and no tokenizer is given.</exception>
    public static LogitsProcessorPipeline For(GenerationOptions options, LanguageModelTokenizer? tokenizer = null) =>
        new([.. Penalties(options), .. Constraints(options, tokenizer), .. Warpers(options)]);

    /// <summary>
    /// Only the processors that do not read the history (temperature, top-k, top-p, min-p), the ones that shape the
    /// sampling distribution; none for greedy options.
    /// </summary>
    public static LogitsProcessorPipeline SamplingWarpers(GenerationOptions options) => new(Warpers(options));

    /// <summary>Runs every processor in turn over <paramref name="logits"/> [1, vocabulary].</summary>
    public Tensor Process(Tensor logits, RowHistory history)
    {
        foreach (ILogitsProcessor processor in _processors)
            logits = processor.Process(logits, history);
        return logits;
    }

    private static IEnumerable<ILogitsProcessor> Penalties(GenerationOptions options)
    {
        if (options.LogitBias.Values.Any(bias => bias != 0))
            yield return new LogitBiasProcessor(options.LogitBias.Where(pair => pair.Value != 0).ToDictionary());
        if (options.RepetitionPenalty is double repetition && repetition != 1)
            yield return new RepetitionPenaltyProcessor(repetition);
        if (options.FrequencyPenalty is double frequency && frequency != 0)
            yield return new FrequencyPenaltyProcessor(frequency);
        if (options.PresencePenalty is double presence && presence != 0)
            yield return new PresencePenaltyProcessor(presence);
    }

    private static IEnumerable<ILogitsProcessor> Constraints(GenerationOptions options, LanguageModelTokenizer? tokenizer)
    {
        if (options.StructuredOutput is not { } output)
            yield break;
        yield return new StructuredOutputProcessor(output, tokenizer
            ?? throw new ArgumentException("A structured output needs the model's tokenizer to build its mask.", nameof(tokenizer)));
    }

    private static IEnumerable<ILogitsProcessor> Warpers(GenerationOptions options)
    {
        if (options.IsGreedy)
            yield break;
        if (options.Temperature != 1)
            yield return new TemperatureProcessor(options.Temperature);
        if (options.TopK is int k)
            yield return new TopKProcessor(k);
        if (options.TopP is double p && p < 1)
            yield return new TopPProcessor(p, options.TopK);
        if (options.MinP is double minP && minP > 0)
            yield return new MinPProcessor(minP);
    }

    /// <summary>Frees what the processors keep between steps.</summary>
    public void Dispose()
    {
        foreach (IDisposable processor in _processors.OfType<IDisposable>())
            processor.Dispose();
    }
}
