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
    /// The GPT-2 to start from (see <see cref="LanguageModelSource"/>): a preset or Hugging Face model id (published weights,
    /// downloaded once into the cache), a checkpoint folder, a directory of our trainer's checkpoints,
    /// <see cref="LanguageModelSource.Random(string)"/> sizes, or <see cref="LanguageModelSource.FromModel"/> an in-memory model.
    /// A string converts to a source: <c>BaseModel = "124M"</c>.
    /// </summary>
    public LanguageModelSource BaseModel = "124M";

    /// <summary>
    /// Where the model runs. When null: the GPU the estimator's <see cref="MLContext"/> (for an estimator from a catalog
    /// extension, the context of that catalog) names in
    /// <see cref="MLContext.GpuDeviceId"/> (with <see cref="MLContext.FallbackToCpu"/> deciding what happens without it), or,
    /// when the context names none, CUDA when available, else the CPU.
    /// </summary>
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

    /// <summary>The model of <see cref="BaseModel"/> on <see cref="ResolveDevice"/>, which the caller owns unless it was given in memory.</summary>
    internal CausalLanguageModel LoadModel(MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(BaseModel, nameof(BaseModel));
        return BaseModel.Load(ResolveDevice(mlContext), DownloadProgress, CancellationToken);
    }

    /// <summary><see cref="Device"/>, else ML.NET's own device choice on <paramref name="mlContext"/>, else null (CUDA when available).</summary>
    /// <exception cref="InvalidOperationException">The context asks for a GPU that is not there and does not fall back to the CPU.</exception>
    internal Device? ResolveDevice(MLContext mlContext)
    {
        if (Device is not null)
            return Device;
        CatalogEnvironment? caller = CatalogEnvironment.Of(mlContext);
        if ((caller is null ? mlContext.GpuDeviceId : caller.GpuDeviceId) is not int gpu)
            return null;
        TorchBackend.EnsureAvailable();
        if (TorchSharp.torch.cuda.is_available() && gpu >= 0 && gpu < TorchSharp.torch.cuda.device_count())
            return new Device(TorchSharp.DeviceType.CUDA, gpu);
        if (caller?.FallbackToCpu ?? mlContext.FallbackToCpu)
            return TorchSharp.torch.CPU;
        throw new InvalidOperationException(
            $"mlContext.GpuDeviceId is {gpu}, but " + (TorchSharp.torch.cuda.is_available()
                ? $"there are only {TorchSharp.torch.cuda.device_count()} CUDA devices"
                : "CUDA is not available (no GPU, or the application references TorchSharp-cpu rather than TorchSharp-cuda-linux/-windows)") +
            ". Set mlContext.FallbackToCpu = true to run on the CPU instead, or set the options' Device.");
    }

    /// <summary>Disposes <paramref name="model"/> when these options loaded it (a failed fit), not when the caller gave it.</summary>
    internal void Release(CausalLanguageModel model)
    {
        if (!BaseModel.IsInMemory)
            model.Dispose();
    }
}
