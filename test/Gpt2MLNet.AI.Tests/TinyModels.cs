using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary>The models the tests share: a tiny random GPT-2 with GPT-2's vocabulary, and the tiny reference fixture.</summary>
internal static class TinyModels
{
    public static Gpt2Config RandomConfig { get; } = new() { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    public static Gpt2Model NewRandom(int seed = 1234)
    {
        manual_seed(seed);
        return new Gpt2Model(RandomConfig, CPU);
    }

    /// <summary>test/Gpt2.Torch.Tests/Fixtures/tiny-gpt2 (vocabulary 1000, context 32), copied next to the test assembly.</summary>
    public static string FixturePath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-gpt2");
}
