using System.IO.Compression;
using System.Text.Json.Nodes;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using TorchSharp;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// A tiny random Qwen3 model folder written at run time, with Qwen3's published tokenizer and chat template (the
/// tokenizer fixture of test/Gpt2.Torch.Tests/Fixtures/tokenizers/qwen3): a model whose template renders tools, for the
/// function-calling tests. Its vocabulary is Qwen's (151,936 rows), its body tiny.
/// </summary>
internal static class TinyQwenModel
{
    /// <summary>Where the fixtures are copied beside the test assembly.</summary>
    public static string FixturesPath => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static LlamaConfig Config => new()
    {
        ModelType = "qwen3", VocabSize = 151936, EmbeddingSize = 16, MlpSize = 32, LayerCount = 1, HeadCount = 2, KeyValueHeads = 1,
        HeadDimension = 8, ContextLength = 1024, RopeTheta = 1000000, RmsNormEpsilon = 1e-6, TieWordEmbeddings = true,
    };

    /// <summary>Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into <paramref name="folder"/>.</summary>
    /// <param name="chatTemplate">A chat template to put in tokenizer_config.json instead of Qwen3's.</param>
    public static string Write(string folder, int seed = 7, string? chatTemplate = null)
    {
        Directory.CreateDirectory(folder);
        torch.random.manual_seed(seed);
        using (LlamaModel model = Config.CreateModel())
            HuggingFaceCheckpoint.Save(model, folder);
        using (var gzip = new GZipStream(File.OpenRead(Path.Combine(FixturesPath, "tokenizers", "qwen3", "tokenizer.json.gz")), CompressionMode.Decompress))
        using (FileStream json = File.Create(Path.Combine(folder, "tokenizer.json")))
            gzip.CopyTo(json);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), TokenizerConfig(chatTemplate));
        return folder;
    }

    /// <summary>Qwen3's tokenizer with <paramref name="chatTemplate"/> (a file of Fixtures/chat-templates) as its template.</summary>
    public static HuggingFaceTokenizer LoadTokenizer(string? chatTemplate = null)
    {
        using var gzip = new GZipStream(File.OpenRead(Path.Combine(FixturesPath, "tokenizers", "qwen3", "tokenizer.json.gz")), CompressionMode.Decompress);
        using var json = new MemoryStream();
        gzip.CopyTo(json);
        json.Position = 0;
        using var config = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(TokenizerConfig(chatTemplate)));
        return HuggingFaceTokenizer.Load(json, config);
    }

    /// <summary>The text of a chat template fixture (qwen2.5-instruct.jinja, qwen3.jinja, ...).</summary>
    public static string Template(string file) => File.ReadAllText(Path.Combine(FixturesPath, "chat-templates", file));

    private static string TokenizerConfig(string? chatTemplate)
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(FixturesPath, "tokenizers", "qwen3", "tokenizer_config.json")))!;
        if (chatTemplate is not null)
            config["chat_template"] = chatTemplate;
        return config.ToJsonString();
    }
}
