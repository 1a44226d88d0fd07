using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.IO;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// The <c>genai_config.json</c> ONNX Runtime GenAI reads beside a Llama-family decoder (<see cref="LlamaOnnxGraph.BuildGenAIDecoder"/>):
/// model type <c>llama</c>, <c>qwen2</c> or <c>qwen3</c>, separate key and value caches (<c>past_key_values.%d.key</c> in,
/// <c>present.%d.key</c> out), and the model's token ids; and the Hugging Face tokenizer files copied beside it.
/// </summary>
internal static class LlamaGenAIConfig
{
    /// <summary>The tokenizer files GenAI's tokenizer reads, copied when present.</summary>
    private static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

    /// <summary>The begin, end and pad token ids GenAI is told (end may be several: Llama 3's <c>eos_token_id</c> list).</summary>
    public sealed record TokenIds(int BeginId, int[] EndIds, int PadId)
    {
        /// <summary>The ids of a config.json (or of its extra fields): <c>bos_token_id</c>, <c>eos_token_id</c> (a number or a list), <c>pad_token_id</c> (else the first end id).</summary>
        public static TokenIds From(string? configJson)
        {
            JsonObject? config = configJson is null ? null : JsonNode.Parse(configJson)?.AsObject();
            int[] ends = config?["eos_token_id"] switch
            {
                JsonArray list => [.. list.Select(id => id!.GetValue<int>())],
                JsonValue one => [one.GetValue<int>()],
                _ => [],
            };
            int begin = config?["bos_token_id"] is JsonValue bos ? bos.GetValue<int>() : ends.FirstOrDefault(-1);
            int pad = config?["pad_token_id"] is JsonValue padding ? padding.GetValue<int>() : ends.FirstOrDefault(-1);
            return new TokenIds(begin, ends, pad);
        }
    }

    public static void Write(LlamaOnnxShape shape, TokenIds ids, string path, string modelFileName) => AtomicFile.Write(path, stream =>
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("model");
        json.WriteNumber("bos_token_id", ids.BeginId);
        if (ids.EndIds.Length == 1)
            json.WriteNumber("eos_token_id", ids.EndIds[0]);
        else
        {
            json.WriteStartArray("eos_token_id");
            foreach (int id in ids.EndIds)
                json.WriteNumberValue(id);
            json.WriteEndArray();
        }
        json.WriteNumber("pad_token_id", ids.PadId);
        json.WriteNumber("context_length", shape.ContextLength);
        json.WriteNumber("vocab_size", shape.VocabSize);
        json.WriteString("type", shape.ModelType);
        GenAIConfig.WriteDecoderStart(json, modelFileName, shape.HeadDim, shape.HiddenSize, shape.Heads, shape.KeyValueHeads, shape.Layers);
        json.WriteStartObject("inputs");
        json.WriteString("input_ids", Gpt2OnnxNames.InputIds);
        json.WriteString("attention_mask", Gpt2OnnxNames.AttentionMask);
        json.WriteString("position_ids", "position_ids");
        json.WriteString("past_key_names", "past_key_values.%d.key");
        json.WriteString("past_value_names", "past_key_values.%d.value");
        json.WriteEndObject();
        json.WriteStartObject("outputs");
        json.WriteString("logits", Gpt2OnnxNames.Logits);
        json.WriteString("present_key_names", "present.%d.key");
        json.WriteString("present_value_names", "present.%d.value");
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        GenAIConfig.WriteGreedySearch(json, shape.ContextLength);
        json.WriteEndObject();
    });

    /// <summary>
    /// Copies the Hugging Face tokenizer files of <paramref name="tokenizerFolder"/> (the model's download folder) into
    /// <paramref name="folder"/>; <c>tokenizer.json</c> must be there. Nothing is copied without a folder (GenAI then takes
    /// token ids only).
    /// </summary>
    public static void CopyTokenizerFiles(string? tokenizerFolder, string folder)
    {
        if (tokenizerFolder is null)
            return;
        if (!File.Exists(Path.Combine(tokenizerFolder, TokenizerFiles[0])))
            throw new FileNotFoundException(
                $"No {TokenizerFiles[0]} in {tokenizerFolder}; ONNX Runtime GenAI's tokenizer reads it. Pass the folder the model was downloaded to.",
                Path.Combine(tokenizerFolder, TokenizerFiles[0]));
        foreach (string name in TokenizerFiles)
        {
            string source = Path.Combine(tokenizerFolder, name);
            if (File.Exists(source) && Path.GetFullPath(source) != Path.GetFullPath(Path.Combine(folder, name)))
                AtomicFile.Write(Path.Combine(folder, name), target =>
                {
                    using FileStream input = File.OpenRead(source);
                    input.CopyTo(target);
                });
        }
    }
}
