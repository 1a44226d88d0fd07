using System.Text.Json;
using Gpt2.Torch.IO;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// The JSON files ONNX Runtime GenAI reads beside a GPT-2 decoder: <c>genai_config.json</c> (model type <c>gpt2</c>, whose
/// key/value cache is one combined tensor per layer, <c>past_%d</c> in and <c>present_%d</c> out) and the Hugging Face
/// <c>tokenizer_config.json</c> and <c>tokenizer.json</c> of GPT-2's tokenizer (ONNX Runtime GenAI's tokenizer reads the latter).
/// </summary>
internal static class GenAIConfig
{
    public static void Write(Gpt2Config config, string path, string modelFileName) => AtomicFile.Write(path, stream =>
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("model");
        json.WriteNumber("bos_token_id", Gpt2Tokenizer.EndOfTextTokenId);
        json.WriteNumber("eos_token_id", Gpt2Tokenizer.EndOfTextTokenId);
        json.WriteNumber("pad_token_id", Gpt2Tokenizer.EndOfTextTokenId);
        json.WriteNumber("context_length", config.ContextLength);
        json.WriteNumber("vocab_size", config.VocabSize);
        json.WriteString("type", "gpt2");
        WriteDecoderStart(json, modelFileName, config.HeadSize, config.EmbeddingSize, config.HeadCount, config.KeyValueHeadCount, config.LayerCount);
        json.WriteStartObject("inputs");
        json.WriteString("input_ids", Gpt2OnnxNames.InputIds);
        json.WriteString("position_ids", "position_ids");
        json.WriteString("attention_mask", Gpt2OnnxNames.AttentionMask);
        json.WriteString("past_names", "past_%d");
        json.WriteEndObject();
        json.WriteStartObject("outputs");
        json.WriteString("logits", Gpt2OnnxNames.Logits);
        json.WriteString("present_names", "present_%d");
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        WriteGreedySearch(json, config.ContextLength);
        json.WriteEndObject();
    });

    /// <summary>Opens GenAI's <c>decoder</c> section and writes its session options, file name and shape (the caller writes its inputs and outputs and closes it).</summary>
    internal static void WriteDecoderStart(Utf8JsonWriter json, string modelFileName, int headSize, int hiddenSize, int heads, int keyValueHeads, int layers)
    {
        json.WriteStartObject("decoder");
        json.WriteStartObject("session_options");
        json.WriteString("log_id", "onnxruntime-genai");
        json.WriteStartArray("provider_options");
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteString("filename", modelFileName);
        json.WriteNumber("head_size", headSize);
        json.WriteNumber("hidden_size", hiddenSize);
        json.WriteNumber("num_attention_heads", heads);
        json.WriteNumber("num_key_value_heads", keyValueHeads);
        json.WriteNumber("num_hidden_layers", layers);
    }

    /// <summary>GenAI's <c>search</c> section: greedy decoding up to the context; the decoder appends to its past (no shared buffer).</summary>
    internal static void WriteGreedySearch(Utf8JsonWriter json, int contextLength)
    {
        json.WriteStartObject("search");
        json.WriteBoolean("do_sample", false);
        json.WriteNumber("max_length", contextLength);
        json.WriteNumber("min_length", 0);
        json.WriteNumber("num_beams", 1);
        json.WriteNumber("num_return_sequences", 1);
        json.WriteBoolean("past_present_share_buffer", false);
        json.WriteNumber("repetition_penalty", 1.0);
        json.WriteNumber("temperature", 1.0);
        json.WriteNumber("top_k", 1);
        json.WriteNumber("top_p", 1.0);
        json.WriteEndObject();
    }

    public static void WriteTokenizerConfig(Gpt2Config config, string path) => AtomicFile.Write(path, stream =>
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("tokenizer_class", "GPT2Tokenizer");
        json.WriteString("bos_token", Gpt2Tokenizer.EndOfTextToken);
        json.WriteString("eos_token", Gpt2Tokenizer.EndOfTextToken);
        json.WriteString("unk_token", Gpt2Tokenizer.EndOfTextToken);
        json.WriteBoolean("add_prefix_space", false);
        json.WriteNumber("model_max_length", config.ContextLength);
        json.WriteEndObject();
    });

    /// <summary>
    /// GPT-2's tokenizer in Hugging Face's <c>tokenizer.json</c> layout: byte-level pre-tokenization and decoding, BPE with
    /// the embedded <c>encoder.json</c> as vocabulary and <c>vocab.bpe</c>'s merges, and <c>&lt;|endoftext|&gt;</c> as the one
    /// special token.
    /// </summary>
    public static void WriteTokenizerJson(string path) => AtomicFile.Write(path, stream =>
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        json.WriteStartObject();
        json.WriteString("version", "1.0");
        json.WriteNull("truncation");
        json.WriteNull("padding");
        json.WriteStartArray("added_tokens");
        json.WriteStartObject();
        json.WriteNumber("id", Gpt2Tokenizer.EndOfTextTokenId);
        json.WriteString("content", Gpt2Tokenizer.EndOfTextToken);
        json.WriteBoolean("single_word", false);
        json.WriteBoolean("lstrip", false);
        json.WriteBoolean("rstrip", false);
        json.WriteBoolean("normalized", true);
        json.WriteBoolean("special", true);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteNull("normalizer");
        ByteLevel(json, "pre_tokenizer", addPrefixSpace: false);
        ByteLevel(json, "post_processor", addPrefixSpace: true);
        ByteLevel(json, "decoder", addPrefixSpace: true);
        json.WriteStartObject("model");
        json.WriteString("type", "BPE");
        json.WriteNull("dropout");
        json.WriteNull("unk_token");
        json.WriteString("continuing_subword_prefix", "");
        json.WriteString("end_of_word_suffix", "");
        json.WriteBoolean("fuse_unk", false);
        json.WriteBoolean("byte_fallback", false);
        json.WritePropertyName("vocab");
        using (Stream encoder = Gpt2Tokenizer.OpenResource("encoder.json"))
        using (var buffer = new MemoryStream())
        {
            encoder.CopyTo(buffer);
            json.WriteRawValue(buffer.ToArray());
        }
        json.WriteStartArray("merges");
        using (var merges = new StreamReader(Gpt2Tokenizer.OpenResource("vocab.bpe")))
        {
            while (merges.ReadLine() is string line)
            {
                if (line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal))
                    json.WriteStringValue(line);
            }
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
    });

    private static void ByteLevel(Utf8JsonWriter json, string name, bool addPrefixSpace)
    {
        json.WriteStartObject(name);
        json.WriteString("type", "ByteLevel");
        json.WriteBoolean("add_prefix_space", addPrefixSpace);
        json.WriteBoolean("trim_offsets", true);
        json.WriteBoolean("use_regex", true);
        json.WriteEndObject();
    }
}
