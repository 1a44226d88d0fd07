using System.Text.Json;

namespace Gpt2.Torch.Downloads;

/// <summary>
/// <c>model.safetensors.index.json</c>, which a checkpoint split into shards publishes instead of
/// <c>model.safetensors</c>: <c>{"metadata": {"total_size": N}, "weight_map": {tensor name: shard file}}</c>.
/// </summary>
internal static class ShardIndex
{
    public const string FileName = "model.safetensors.index.json";

    /// <summary>
    /// The shard files the index names, each once, in order. The names come from the network and become paths in the
    /// cache, so only plain <c>*.safetensors</c> file names are accepted: no folders, no <c>..</c>.
    /// </summary>
    /// <exception cref="DownloadException">The index is not JSON, has no weight_map, or names a file that is not a plain safetensors file name.</exception>
    public static IReadOnlyList<string> ReadShardFiles(string indexPath, string modelId)
    {
        var shards = new SortedSet<string>(StringComparer.Ordinal);
        try
        {
            using JsonDocument index = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (index.RootElement.ValueKind != JsonValueKind.Object
                || !index.RootElement.TryGetProperty("weight_map", out JsonElement weightMap) || weightMap.ValueKind != JsonValueKind.Object)
                throw Invalid(modelId, "it has no \"weight_map\" object");
            foreach (JsonProperty tensor in weightMap.EnumerateObject())
            {
                if (tensor.Value.ValueKind != JsonValueKind.String)
                    throw Invalid(modelId, $"the weight_map entry of {JsonSerializer.Serialize(tensor.Name)} is not a file name");
                string shard = tensor.Value.GetString()!;
                if (!IsPlainSafetensorsFileName(shard))
                    throw new DownloadException(
                        $"{FileName} of {modelId} names the shard {JsonSerializer.Serialize(shard)}, which is not a plain *.safetensors file name " +
                        "(it has a folder, '..' or characters a file name cannot have); refused, since it could write outside the model's cache folder.");
                shards.Add(shard);
            }
        }
        catch (JsonException e)
        {
            throw Invalid(modelId, $"it is not JSON ({e.Message})");
        }
        if (shards.Count == 0)
            throw Invalid(modelId, "its weight_map is empty");
        return [.. shards];
    }

    private static bool IsPlainSafetensorsFileName(string name) =>
        name.EndsWith(".safetensors", StringComparison.Ordinal) && name.Length > ".safetensors".Length
        && !name.Contains('/') && !name.Contains('\\') && !name.Contains("..", StringComparison.Ordinal)
        && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && !name.Any(char.IsControl) && name.Trim() == name;

    private static DownloadException Invalid(string modelId, string problem) =>
        new($"{FileName} of {modelId} is not a valid shard index: {problem}.");
}
