using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// fixtures/gpt2-config-variants: one small model's weights, a Hugging Face config.json per variant of the fields that
/// change the computation, and logits and greedy continuations for each from an independent PyTorch reference
/// (make_variants.py, written from Hugging Face's modeling_gpt2.py).
/// </summary>
internal static class ConfigVariantFixture
{
    private static readonly Lazy<SafetensorsFile> ExpectedFile = new(() => SafetensorsFile.Open(Path.Combine(TestPaths.ConfigVariants, "expected.safetensors")));

    /// <summary>The variants whose config.json the fixture holds.</summary>
    public static readonly string[] Names =
    [
        "gelu_new", "gelu_pytorch_tanh", "gelu", "gelu_fast", "quick_gelu", "relu", "silu", "swish", "tanh",
        "unscaled", "inverse_layer_idx", "unscaled_inverse_layer_idx", "reorder_and_upcast", "layer_norm_epsilon",
    ];

    /// <summary>The reference's expected tensors: input_ids, logits.NAME, greedy.prompt, greedy.NAME.</summary>
    public static SafetensorsFile Expected => ExpectedFile.Value;

    /// <summary>A Hugging Face checkpoint folder under <paramref name="directory"/> with the variant's config.json and the fixture's weights.</summary>
    public static string CheckpointFolder(string variant, string directory)
    {
        string folder = Path.Combine(directory, variant);
        System.IO.Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(TestPaths.ConfigVariants, Gpt2Checkpoint.WeightsFileName), Path.Combine(folder, Gpt2Checkpoint.WeightsFileName));
        File.Copy(Path.Combine(TestPaths.ConfigVariants, variant + ".json"), Path.Combine(folder, Gpt2Checkpoint.ConfigFileName));
        return folder;
    }

    /// <summary>The variant loaded through <see cref="Gpt2Checkpoint.Load"/>, in evaluation mode.</summary>
    public static Gpt2Model Load(string variant, string directory)
    {
        Gpt2Model model = Gpt2Checkpoint.Load(CheckpointFolder(variant, directory), CPU);
        model.eval();
        return model;
    }

    public static long[] InputIds => Expected.ReadTensor("input_ids").data<long>().ToArray();

    public static int[] Tokens(string name) => [.. Expected.ReadTensor(name).data<long>().ToArray().Select(id => (int)id)];
}
