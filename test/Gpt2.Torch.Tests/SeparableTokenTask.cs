using Gpt2.Torch.Training;

namespace Gpt2.Torch.Tests;

/// <summary>A classification task a tiny model learns in seconds: class 1 sequences hold token 42, class 0 sequences never do.</summary>
internal static class SeparableTokenTask
{
    public static List<ClassificationExample> Examples(Random rng, int count) => [.. Enumerable.Range(0, count).Select(i =>
    {
        int[] ids = [.. Enumerable.Range(0, rng.Next(2, 10)).Select(_ => rng.Next(50, 100))];
        if (i % 2 == 1)
            ids[rng.Next(ids.Length)] = 42;
        return new ClassificationExample(ids, i % 2);
    })];
}
