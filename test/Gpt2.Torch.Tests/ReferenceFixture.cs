using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// fixtures/tiny-gpt2, loaded once for the test run: the model in evaluation mode and the reference implementations'
/// expected tensors (read-only; tests must not change the model).
/// </summary>
internal sealed class ReferenceFixture
{
    private static readonly Lazy<ReferenceFixture> Instance = new(Load);

    private ReferenceFixture(Gpt2Model model, SafetensorsFile expected)
    {
        Model = model;
        Expected = expected;
    }

    public Gpt2Model Model { get; }

    public SafetensorsFile Expected { get; }

    public static ReferenceFixture Shared => Instance.Value;

    private static ReferenceFixture Load()
    {
        Gpt2Model model = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        model.eval();
        return new ReferenceFixture(model, SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, "expected.safetensors")));
    }

    /// <summary>An expected int64 tensor (token ids) as ints.</summary>
    public int[] Tokens(string name) => [.. Expected.ReadTensor(name).data<long>().ToArray().Select(id => (int)id)];
}
