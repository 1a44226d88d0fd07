namespace Gpt2.Torch.Tests;

/// <summary>Files the tests read, copied next to the test assembly.</summary>
internal static class TestPaths
{
    public static string TinyGpt2 => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-gpt2");
    public static string ConfigVariants => Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2-config-variants");
    public static string LevelDbBundle => Path.Combine(AppContext.BaseDirectory, "Fixtures", "leveldb-bundle");
    public static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "Data", name);

    public static string NewTemporaryDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "gpt2-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
