using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// Copies a checkpoint's tensors into a model by name, with the checks every format shares:
/// every parameter present once with the right shape, nothing else present, and a config that cannot ask for
/// more memory than its weights file holds.
/// </summary>
internal static class CheckpointWeights
{
    /// <param name="model">The model to fill.</param>
    /// <param name="path">The weights file, named in errors.</param>
    /// <param name="tensors">Each tensor's name in the file, the parameter it maps onto (null: none) and its shape in the file.</param>
    /// <param name="fileShape">The shape the file stores for a parameter, from its name and model shape.</param>
    /// <param name="read">Reads a file tensor (by file name) in the model's layout (for the parameter named second).</param>
    public static void Copy(CausalLanguageModel model, string path, IEnumerable<(string FileName, string? ParameterName, long[] Shape)> tensors,
        Func<string, long[], long[]> fileShape, Func<string, string, Tensor> read)
    {
        Dictionary<string, Tensor> parameters = model.state_dict();
        var loadedFrom = new Dictionary<string, string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach ((string fileName, string? parameterName, long[] shape) in tensors)
        {
            if (parameterName is null || !parameters.TryGetValue(parameterName, out Tensor? target))
            {
                unexpected.Add(fileName);
                continue;
            }
            if (!loadedFrom.TryAdd(parameterName, fileName))
                throw new CheckpointFormatException(path, $"tensors '{loadedFrom[parameterName]}' and '{fileName}' both hold '{parameterName}'.");
            long[] expected = fileShape(parameterName, target.shape);
            if (!shape.SequenceEqual(expected))
                throw new CheckpointFormatException(path,
                    $"tensor '{fileName}' has shape [{string.Join(", ", shape)}] but the model expects [{string.Join(", ", expected)}]; " +
                    $"the checkpoint is of another size than the config ({Describe(model.Config)}). Load it with its own config.");

            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            target.copy_(read(fileName, parameterName));
        }

        if (unexpected.Count > 0)
            throw new CheckpointFormatException(path,
                $"tensors the model has no place for: {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", ..." : "")}; " +
                $"the checkpoint is of another size or kind than the config ({Describe(model.Config)}).");
        string[] missing = [.. parameters.Keys.Where(name => !loadedFrom.ContainsKey(name))];
        if (missing.Length > 0)
            throw new CheckpointFormatException(path,
                $"missing tensors: {string.Join(", ", missing.Take(8))}{(missing.Length > 8 ? ", ..." : "")}; the file is incomplete or of another model.");
    }

    /// <summary>
    /// Throws before a model is allocated when <paramref name="config"/> has more parameters than a weights file of
    /// <paramref name="weightBytes"/> can hold at <paramref name="bytesPerParameter"/> each: a config that does not
    /// belong to the weights, or one written to exhaust memory.
    /// </summary>
    public static void EnsureConfigFits(Gpt2Config config, long weightBytes, int bytesPerParameter, string configPath, string weightsPath)
    {
        double e = config.EmbeddingSize, m = config.ResolvedMlpSize, vocab = config.VocabSize;
        double block = 4 * e + e * 3 * e + (config.QkvBias ? 3 * e : 0) + e * e + e + e * m + m + m * e + e;
        double parameters = vocab * e + (double)config.ContextLength * e + config.LayerCount * block + 2 * e + (config.TieWordEmbeddings ? 0 : vocab * e);
        if (parameters * bytesPerParameter > weightBytes)
            throw new CheckpointFormatException(configPath,
                $"the config describes a model of {parameters:N0} parameters ({Describe(config)}), more than the {weightBytes:N0} bytes of {Path.GetFileName(weightsPath)} hold; " +
                "the config belongs to another checkpoint.");
    }

    public static string Describe(LanguageModelConfig config) =>
        $"{config.LayerCount} layers, {config.HeadCount} heads, embedding {config.EmbeddingSize}, vocab {config.VocabSize}, context {config.ContextLength}";
}
