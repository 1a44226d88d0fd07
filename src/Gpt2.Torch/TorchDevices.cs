using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch;

/// <summary>Chooses where tensors live when the caller does not say.</summary>
public static class TorchDevices
{
    /// <summary>CUDA when a GPU and the CUDA backend are present, otherwise the CPU.</summary>
    public static Device Default => cuda.is_available() ? CUDA : CPU;

    /// <summary><paramref name="requested"/>, or <see cref="Default"/> when null.</summary>
    public static Device Resolve(Device? requested) => requested ?? Default;

    /// <summary>Parses a device name such as <c>cpu</c>, <c>cuda</c> or <c>cuda:1</c>; null or <c>auto</c> gives <see cref="Default"/>.</summary>
    public static Device Parse(string? name) =>
        string.IsNullOrWhiteSpace(name) || name.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Default : new Device(name);
}
