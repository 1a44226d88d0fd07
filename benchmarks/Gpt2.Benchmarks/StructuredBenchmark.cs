using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Generation.Structured;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// The structured output's cost per token: one row's <see cref="TokenSampler.Next"/> over random logits, the history
/// growing by each chosen token and starting again when the document ends, with the JSON constraint and without it
/// (the difference is the mask's cost: advancing the recognizer, the mask of its state, and the mask's one copy to the
/// device). First with every cache empty (the vocabulary's trie built, each new state's mask walked), then warm; also
/// the trie's build and the first mask's walk alone. For GPT-2's vocabulary and, with <c>--tokenizer</c>, that
/// folder's (tokenizer.json or tokenizer.json.gz: Qwen3's 151,669 tokens).
/// </summary>
internal sealed class StructuredBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":24},"age":{"type":"integer"},"city":{"enum":["Paris","Rome","Lisbon"]},
         "tags":{"type":"array","items":{"type":"string","maxLength":10},"maxItems":4},"active":{"type":"boolean"}},
         "required":["name","age","city","tags","active"],"additionalProperties":false}
        """;

    public void Run(int steps = 400)
    {
        var tokenizers = new List<(string Name, LanguageModelTokenizer Tokenizer)> { ("gpt2", Gpt2Tokenizer.Default) };
        if (TokenizerFolder is string folder)
            tokenizers.Add((Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), LoadTokenizer(folder)));
        foreach ((string name, LanguageModelTokenizer tokenizer) in tokenizers)
        {
            var clock = Stopwatch.StartNew();
            TokenTrie trie = TokenTrie.For(tokenizer);
            double trieMs = clock.Elapsed.TotalMilliseconds;
            // The costliest mask: inside a string nearly every token is allowed, so nearly the whole trie is walked.
            TokenMasks masks = JsonGrammar.For(StructuredOutput.JsonObject with { Suffix = "\n" }).MasksFor(trie);
            RecognizerState inString = tokenizer.Encode("{\"x").Aggregate(masks.Automaton.Start, masks.Advance);
            clock.Restart();
            int allowed = masks.Allowed(inString).Sum(bits => System.Numerics.BitOperations.PopCount(bits));
            double stringMaskMs = clock.Elapsed.TotalMilliseconds;
            Report("structured_setup", new
            {
                tokenizer = name, vocabulary = tokenizer.VocabSize, trie_nodes = trie.NodeCount, trie_build_ms = Math.Round(trieMs, 1),
                string_mask_ms = Math.Round(stringMaskMs, 2), string_mask_allowed = allowed,
            });

            // Logits as wide as the model's output: vocabularies padded to a multiple of 128 (Qwen3's 151,936) where not exact.
            int width = tokenizer is Gpt2Tokenizer ? tokenizer.VocabSize : (tokenizer.VocabSize + 127) / 128 * 128;
            random.manual_seed(0);
            using var scope = NewDisposeScope();
            Tensor logits = randn(1, width, device: Device) * 3;
            foreach ((string schemaName, StructuredOutput output) in new[]
            {
                ("object_schema", StructuredOutput.ForJsonSchema(JsonDocument.Parse(Schema).RootElement)),
                ("json_object", StructuredOutput.JsonObject with { Suffix = " " }),   // a grammar of its own: its caches start empty
            })
            {
                var options = new GenerationOptions { Temperature = 1, Seed = 1, StructuredOutput = output };
                (double coldMs, double coldCpuMs, int coldDocuments) = PerToken(logits, options, tokenizer, steps);
                // Warm: the fastest of three runs, so that a busy machine disturbs the figures less.
                var warm = Enumerable.Range(0, 3).Select(_ => PerToken(logits, options, tokenizer, steps)).ToList();
                var free = Enumerable.Range(0, 3).Select(_ => PerToken(logits, options with { StructuredOutput = null }, tokenizer, steps)).ToList();
                double warmMs = warm.Min(run => run.Ms), warmCpuMs = warm.Min(run => run.CpuMs);
                double freeMs = free.Min(run => run.Ms), freeCpuMs = free.Min(run => run.CpuMs);
                int warmDocuments = warm[0].Documents;
                GrammarAutomaton automaton = JsonGrammar.For(output).Automaton;
                Report("structured", new
                {
                    tokenizer = name, vocabulary = tokenizer.VocabSize, logits = width, schema = schemaName, steps,
                    cold_ms_per_token = Math.Round(coldMs, 3), warm_ms_per_token = Math.Round(warmMs, 3), unconstrained_ms_per_token = Math.Round(freeMs, 3),
                    warm_mask_ms_per_token = Math.Round(warmMs - freeMs, 3),
                    cold_cpu_ms_per_token = Math.Round(coldCpuMs, 3), warm_cpu_ms_per_token = Math.Round(warmCpuMs, 3),
                    unconstrained_cpu_ms_per_token = Math.Round(freeCpuMs, 3), warm_mask_cpu_ms_per_token = Math.Round(warmCpuMs - freeCpuMs, 3), documents_cold = coldDocuments, documents_warm = warmDocuments,
                    masks_kept = JsonGrammar.For(output).MasksFor(trie).Count, automaton_states = automaton.StateCount, automaton_restarts = automaton.Restarts,
                });
            }
        }
    }

    // Wall-clock and process CPU milliseconds per token over `steps` tokens of one row (CPU time is the steadier figure
    // on a machine shared with other work), and how many documents ended; a row whose document ends (or reaches 300
    // tokens) starts again from its prompt.
    private (double Ms, double CpuMs, int Documents) PerToken(Tensor logits, GenerationOptions options, LanguageModelTokenizer tokenizer, int steps)
    {
        int[] prompt = tokenizer.Encode("Write the record as JSON:");
        var sampler = new TokenSampler(options, Device, tokenizer);
        var history = new List<int>(prompt);
        int documents = 0;
        Synchronize();
        var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            int token = sampler.Next(logits, history, prompt.Length).TokenId;
            history.Add(token);
            if (token == tokenizer.EndOfTextId || history.Count - prompt.Length >= 300)
            {
                documents += token == tokenizer.EndOfTextId ? 1 : 0;
                sampler.Dispose();
                sampler = new TokenSampler(options, Device, tokenizer);
                history = [.. prompt];
            }
        }
        Synchronize();
        double ms = clock.Elapsed.TotalMilliseconds / steps;
        process.Refresh();
        double cpuMs = (process.TotalProcessorTime - cpuStart).TotalMilliseconds / steps;
        sampler.Dispose();
        return (ms, cpuMs, documents);
    }

    private static LanguageModelTokenizer LoadTokenizer(string folder)
    {
        string compressed = Path.Combine(folder, "tokenizer.json.gz");
        if (!File.Exists(compressed))
            return HuggingFaceTokenizer.Load(folder);
        using var json = new GZipStream(File.OpenRead(compressed), CompressionMode.Decompress);
        string config = Path.Combine(folder, "tokenizer_config.json");
        using Stream? configStream = File.Exists(config) ? File.OpenRead(config) : null;
        return HuggingFaceTokenizer.Load(json, configStream);
    }
}
