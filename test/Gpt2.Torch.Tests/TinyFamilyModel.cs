using System.Text;
using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using TorchSharp;

namespace Gpt2.Torch.Tests;

/// <summary>
/// A tiny SmolLM2-like model folder written at run time: random Llama-family weights (tied head, grouped-query
/// attention) saved as Hugging Face writes them, a small byte-level BPE <c>tokenizer.json</c> and a
/// <c>tokenizer_config.json</c> with SmolLM2-Instruct's ChatML template (eos <c>&lt;|im_end|&gt;</c>, pad
/// <c>&lt;|endoftext|&gt;</c>). It lets every front end be tried on the family without a download or a binary fixture.
/// </summary>
internal static class TinyFamilyModel
{
    /// <summary>SmolLM2-Instruct's chat template, as in Fixtures/chat-templates/smollm2-instruct.jinja.</summary>
    public const string ChatTemplate =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
        + "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    // A handful of English merges (each joins two earlier tokens), so that BPE does more than split into bytes.
    private static readonly (string Left, string Right)[] Merges =
    [
        ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "u"), ("Ġ", "s"),
        ("a", "n"), ("r", "e"), ("o", "n"), ("Ġ", "w"),
    ];

    public const string EndOfText = "<|endoftext|>";
    public const string TurnStart = "<|im_start|>";
    public const string TurnEnd = "<|im_end|>";

    /// <summary>256 byte tokens, the merges' tokens, then the three added tokens.</summary>
    public static int VocabSize => 256 + Merges.Length + 3;

    public static int EndOfTextId => 256 + Merges.Length;
    public static int TurnStartId => EndOfTextId + 1;
    public static int TurnEndId => EndOfTextId + 2;

    /// <summary>The model's shape: SmolLM2's (tied head, 2 key/value heads for 4 query heads), much smaller.</summary>
    public static LlamaConfig Config => new()
    {
        VocabSize = VocabSize, EmbeddingSize = 64, MlpSize = 128, LayerCount = 2, HeadCount = 4, KeyValueHeads = 2,
        ContextLength = 256, RopeTheta = 10000, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true,
    };

    /// <summary>Writes the model folder (config.json, model.safetensors, tokenizer files) into <paramref name="folder"/>.</summary>
    public static string Write(string folder, int seed = 1)
    {
        Directory.CreateDirectory(folder);
        torch.random.manual_seed(seed);
        using (LlamaModel model = Config.CreateModel())
            HuggingFaceCheckpoint.Save(model, folder);
        WriteTokenizer(folder);
        return folder;
    }

    /// <summary>Writes only tokenizer.json and tokenizer_config.json.</summary>
    public static void WriteTokenizer(string folder)
    {
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), TokenizerJson());
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), TokenizerConfigJson());
    }

    /// <summary>The tokenizer alone, read back from the files this class writes.</summary>
    public static HuggingFaceTokenizer LoadTokenizer()
    {
        using var json = new MemoryStream(Encoding.UTF8.GetBytes(TokenizerJson()));
        using var config = new MemoryStream(Encoding.UTF8.GetBytes(TokenizerConfigJson()));
        return HuggingFaceTokenizer.Load(json, config);
    }

    /// <summary>GPT-2's byte-to-character table (bytes_to_unicode in openai/gpt-2's encoder.py), written out here so the test does not lean on the product's copy.</summary>
    public static char[] ByteToUnicode()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    private static string TokenizerJson()
    {
        char[] alphabet = ByteToUnicode();
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
            vocab[alphabet[b].ToString()] = b;
        foreach ((string left, string right) in Merges)
            vocab[left + right] = vocab.Count;
        object Added(int id, string content) => new Dictionary<string, object>
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        };
        var document = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new[] { Added(EndOfTextId, EndOfText), Added(TurnStartId, TurnStart), Added(TurnEndId, TurnEnd) },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = Merges.Select(m => $"{m.Left} {m.Right}").ToArray(),
            },
        };
        return JsonSerializer.Serialize(document);
    }

    private static string TokenizerConfigJson() => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["add_prefix_space"] = false,
        ["bos_token"] = TurnStart,
        ["eos_token"] = TurnEnd,
        ["pad_token"] = EndOfText,
        ["unk_token"] = EndOfText,
        ["model_max_length"] = 256,
        ["tokenizer_class"] = "GPT2Tokenizer",
        ["chat_template"] = ChatTemplate,
    });
}
