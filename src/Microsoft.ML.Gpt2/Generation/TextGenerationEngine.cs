using System.Diagnostics;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// Turns prompts into continuations with a model, a batch of rows at a time: each prompt keeps its last context length
/// minus <see cref="GenerationOptions.MaxNewTokens"/> tokens, and a continuation ends before <c>&lt;|endoftext|&gt;</c> or
/// the first stop string. One batch runs at a time (TorchSharp modules are not thread-safe).
/// </summary>
internal sealed class TextGenerationEngine : IDisposable
{
    private readonly Gpt2Generator _generator;
    private readonly MLContextCancellation _mlContextCancellation;
    private readonly Lock _lock = new();
    private readonly Stopwatch _clock = new();
    private long _rowsCompleted, _tokensGenerated;

    public TextGenerationEngine(MLContext mlContext, Gpt2Model model, Gpt2GenerationOptions options, CancellationToken cancellationToken)
    {
        options.Validate();
        if (options.MaxNewTokens >= model.Config.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxNewTokens,
                $"Generation.MaxNewTokens must be less than the model's context length of {model.Config.ContextLength}, to leave room for the prompt.");
        Model = model;
        Options = options.ToCoreOptions();
        BatchSize = options.BatchSize;
        Progress = options.Progress;
        CancellationToken = cancellationToken;
        _generator = new Gpt2Generator(model, Gpt2Tokenizer.Default.Tokenizer);
        _mlContextCancellation = new MLContextCancellation(mlContext);
    }

    /// <summary>An engine over the model of <paramref name="modelOptions"/>, which is released again if the options do not fit it.</summary>
    public static TextGenerationEngine Load(MLContext mlContext, Gpt2ModelOptions modelOptions, Gpt2GenerationOptions options)
    {
        Gpt2Model model = modelOptions.LoadModel();
        try
        {
            return new TextGenerationEngine(mlContext, model, options, modelOptions.CancellationToken);
        }
        catch
        {
            modelOptions.Release(model);
            throw;
        }
    }

    public Gpt2Model Model { get; }

    public GenerationOptions Options { get; }

    public int BatchSize { get; }

    public Action<TextGenerationProgress>? Progress { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>Why a saved model could not decode as this engine does, or null when it can (greedy, or sampling without top-k and stop strings).</summary>
    public string? WhyNotSaveable =>
        Options.TopK is int topK && !Options.IsGreedy ? $"TopK is {topK}, which ONNX Runtime's Sampling operator does not offer"
        : Options.StopStrings.Count > 0 ? $"StopStrings are set ({string.Join(", ", Options.StopStrings.Select(s => $"'{s}'"))}), which ONNX Runtime's GreedySearch and Sampling do not offer"
        : Options.Seed is long seed && !Options.IsGreedy && seed is < int.MinValue or > int.MaxValue
            ? $"Generation.Seed is {seed}, which does not fit the 32-bit seed of ONNX Runtime's Sampling operator (use a seed from {int.MinValue} to {int.MaxValue})"
        : null;

    /// <summary>The continuation of each prompt; <paramref name="columnName"/> names the prompts' column in errors.</summary>
    public string[] Generate(IReadOnlyList<string?> prompts, string columnName)
    {
        int promptTokens = Model.Config.ContextLength - Options.MaxNewTokens;
        int[][] ids = [.. prompts.Select(prompt => Gpt2TextEncoding.Encode(prompt, columnName, promptTokens, keepLast: true))];
        var continuations = new string[prompts.Count];
        lock (_lock)
        {
            _mlContextCancellation.ThrowIfCancelled();
            _clock.Start();
            try
            {
                int[][] rows = _generator.GenerateBatch(ids, Options, (_, _) => CancellationToken.ThrowIfCancellationRequested());
                for (int row = 0; row < rows.Length; row++)
                {
                    int[] generated = rows[row][ids[row].Length..];
                    _tokensGenerated += generated.Length;
                    continuations[row] = Continuation(generated);
                }
            }
            finally
            {
                _clock.Stop();
            }
            _rowsCompleted += prompts.Count;
            Progress?.Invoke(new TextGenerationProgress(_rowsCompleted, _tokensGenerated, _clock.Elapsed));
        }
        return continuations;
    }

    /// <summary>Writes the model as ONNX Runtime's GreedySearch or Sampling with this engine's settings (see <see cref="WhyNotSaveable"/>).</summary>
    public void ExportGenerator(string path)
    {
        OnnxSampling? sampling = Options.IsGreedy ? null
            : new OnnxSampling((float)Options.Temperature, (float)(Options.TopP ?? 1), Options.Seed is long seed ? checked((int)seed) : null);
        lock (_lock)
            Gpt2OnnxExporter.ExportGenerator(Model, path, Options.MaxNewTokens, Gpt2Tokenizer.EndOfTextId, padTokenId: Gpt2Tokenizer.EndOfTextId, sampling);
    }

    public void Dispose() => Model.Dispose();

    private string Continuation(int[] generated)
    {
        int end = Array.IndexOf(generated, Gpt2Tokenizer.EndOfTextId);
        string text = Gpt2Tokenizer.Default.Decode(end < 0 ? generated : generated[..end]);
        foreach (string stop in Options.StopStrings)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0)
                text = text[..at];
        }
        return text;
    }
}
