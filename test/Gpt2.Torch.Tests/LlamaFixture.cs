using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Fixtures/families: four tiny Llama-family checkpoints in Hugging Face's layout and the outputs of a float64 reference
/// written from transformers' modeling files (see the folder's README.md and make_fixtures.py).
/// </summary>
internal static class LlamaFixture
{
    /// <summary>The four folders: llama (GQA, tied), qwen2 (biases, MQA, bfloat16), qwen3 (q/k norms, head_dim, shards, float16), llama3 (rope scaling, untied).</summary>
    public static readonly string[] Names = ["tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-llama3"];

    public static string Folder(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "families", name);

    /// <summary>The checkpoint in evaluation mode on the CPU.</summary>
    public static LlamaModel Load(string name, Precision precision = Precision.Float32)
    {
        var model = (LlamaModel)HuggingFaceCheckpoint.Load(Folder(name), CPU, precision);
        model.eval();
        return model;
    }

    public static SafetensorsFile Expected(string name) => SafetensorsFile.Open(Path.Combine(Folder(name), "expected.safetensors"));

    /// <summary>Largest absolute difference between two tensors (float64).</summary>
    public static double MaxDifference(Tensor actual, Tensor expected) =>
        (actual.to(float64) - expected.to(float64)).abs().max().item<double>();
}
