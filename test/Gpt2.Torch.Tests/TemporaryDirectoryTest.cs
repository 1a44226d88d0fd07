namespace Gpt2.Torch.Tests;

/// <summary>A test class whose every test gets a fresh temporary folder, deleted afterwards.</summary>
public abstract class TemporaryDirectoryTest
{
    protected string Directory { get; private set; } = null!;

    [TestInitialize]
    public void CreateTemporaryDirectory() => Directory = TestPaths.NewTemporaryDirectory();

    [TestCleanup]
    public void DeleteTemporaryDirectory() => System.IO.Directory.Delete(Directory, recursive: true);
}
