using Gpt2.Torch;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2;

/// <summary>What every GPT-2 component here needs: the model to start from, where it runs, and how to stop it.</summary>
public abstract class Gpt2ModelOptions
{
    /// <summary>
    /// The GPT-2 to start from (see <see cref="Gpt2ModelSource"/>): a preset or Hugging Face model id (published weights,
    /// downloaded once into the cache), a checkpoint folder, a directory of our trainer's checkpoints,
    /// <see cref="Gpt2ModelSource.Random(string)"/> sizes, or <see cref="Gpt2ModelSource.FromModel"/> an in-memory model.
    /// A string converts to a source: <c>BaseModel = "124M"</c>.
    /// </summary>
    public Gpt2ModelSource BaseModel = "124M";

    /// <summary>Where the model runs; CUDA when available, else the CPU, when null.</summary>
    public Device? Device;

    /// <summary>Receives download progress when <see cref="BaseModel"/> must be downloaded.</summary>
    public IProgress<DownloadProgress>? DownloadProgress;

    /// <summary>Stops training and generation at the next step or token (as does <c>MLContext.CancelExecution</c>).</summary>
    public CancellationToken CancellationToken;

    /// <summary>
    /// How <c>mlContext.Model.Save</c> stores the model's matrices in the zip's ONNX graph: float32 when null (the
    /// default, the in-memory model's exact results), or weight-only 8- or 4-bit blocks for ONNX Runtime's MatMulNBits
    /// (<see cref="OnnxWeightQuantization.Int8"/>: a smaller zip and faster scoring and decoding, with the small quality
    /// loss README measures). The model in memory is not changed.
    /// </summary>
    public OnnxWeightQuantization? SavedWeightQuantization;

    /// <summary>The model of <see cref="BaseModel"/>, which the caller owns unless it was given in memory.</summary>
    internal Gpt2Model LoadModel()
    {
        ArgumentNullException.ThrowIfNull(BaseModel, nameof(BaseModel));
        return BaseModel.Load(Device, DownloadProgress, CancellationToken);
    }

    /// <summary>Disposes <paramref name="model"/> when these options loaded it (a failed fit), not when the caller gave it.</summary>
    internal void Release(Gpt2Model model)
    {
        if (!BaseModel.IsInMemory)
            model.Dispose();
    }
}
