using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2;

/// <summary>Where every component here gets its GPT-2: random sizes, a checkpoint folder, a trainer's checkpoint directory, or the Hub.</summary>
internal static class Gpt2ModelSource
{
    /// <param name="baseModel">A preset, a Hugging Face model id, a checkpoint folder, or a directory of our trainer's checkpoints (its latest one).</param>
    /// <param name="randomInitialization">Random weights with <paramref name="baseModel"/>'s sizes.</param>
    /// <param name="config">When set, random weights with these sizes.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="downloadProgress">Receives download progress.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    public static Gpt2Model Load(string baseModel, bool randomInitialization, Gpt2Config? config, Device? device,
        IProgress<DownloadProgress>? downloadProgress, CancellationToken cancellationToken)
    {
        if (config is not null)
            return new Gpt2Model(config, device);
        ArgumentException.ThrowIfNullOrEmpty(baseModel);
        bool isFolder = Directory.Exists(baseModel);
        if (randomInitialization)
        {
            string configPath = Path.Combine(baseModel, Gpt2Checkpoint.ConfigFileName);
            return new Gpt2Model(isFolder && File.Exists(configPath) ? Gpt2Config.Load(configPath) : Gpt2Config.FromPreset(baseModel), device);
        }
        if (isFolder && !File.Exists(Path.Combine(baseModel, Gpt2Checkpoint.ConfigFileName))
            && File.Exists(Path.Combine(baseModel, TrainingCheckpoint.LatestFileName)))
            return Gpt2Checkpoint.Load(TrainingCheckpoint.Locate(baseModel), device);
        string modelId = isFolder ? baseModel : HuggingFaceHub.ResolveModelId(baseModel);
        return Gpt2Checkpoint.LoadPretrainedAsync(modelId, device, progress: downloadProgress, cancellationToken: cancellationToken).GetAwaiter().GetResult();
    }
}
