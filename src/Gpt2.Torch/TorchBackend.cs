using System.Runtime.InteropServices;
using TorchSharp;

namespace Gpt2.Torch;

/// <summary>
/// Checks, once per process, that TorchSharp finds a libtorch backend, and turns TorchSharp's failure into an error that
/// says which package the application should add.
/// </summary>
/// <remarks>
/// Gpt2MLNet.Torch references only the managed TorchSharp package, so that the application chooses its backend:
/// TorchSharp-cpu, TorchSharp-cuda-linux or TorchSharp-cuda-windows. Without one, TorchSharp 0.107 fails with a
/// <see cref="DllNotFoundException"/> for LibTorchSharp (from <c>nn.Module</c>'s constructor) or a
/// <see cref="TypeInitializationException"/> around a <see cref="NotSupportedException"/> (from <c>torch</c>'s
/// static constructor). The tokenizer, configurations and loading a saved ML.NET model zip for scoring need no backend.
/// Every model creation checks; an application may call <see cref="EnsureAvailable()"/> at start-up to fail early.
/// </remarks>
public static class TorchBackend
{
    private static readonly Lazy<Exception?> LoadFailure = new(TryLoad);
    private static readonly Lazy<string?> LoaderError = new(NativeLoaderError);

    /// <summary>Throws <see cref="InvalidOperationException"/>, naming the packages to add, when no libtorch backend loads.</summary>
    /// <exception cref="InvalidOperationException">No libtorch backend could be loaded; the inner exception is TorchSharp's.</exception>
    public static void EnsureAvailable()
    {
        if (LoadFailure.Value is not Exception failure)
            return;
        string? loader = LoaderError.Value;
        throw new InvalidOperationException(
            "No libtorch backend was found: TorchSharp could not load its native libraries. Gpt2MLNet references only the " +
            "managed TorchSharp package so that the application chooses the backend; add one to the application: " +
            "'dotnet add package TorchSharp-cpu' for the CPU, or 'dotnet add package TorchSharp-cuda-linux' " +
            "(TorchSharp-cuda-windows on Windows) for CUDA, of the TorchSharp version this library uses " +
            $"({typeof(torch).Assembly.GetName().Version?.ToString(3)}). Loading a saved ML.NET model zip for scoring " +
            "needs no backend." +
            (loader is null ? "" : $" The native loader said: {loader}") +
            (loader?.Contains("GLIBCXX", StringComparison.Ordinal) == true
                ? " (the system libstdc++ is older than the one TorchSharp was built with: the Gpt2MLNet.Torch package's " +
                  "build targets mark that need weak in the build and publish output; see its readme)"
                : loader?.Contains("undefined symbol", StringComparison.Ordinal) == true
                    ? " (a libtorch of another version was loaded, such as a system-wide one: TorchSharp needs the libtorch of its backend package)"
                    : ""),
            failure);
    }

    /// <summary><see cref="EnsureAvailable()"/>, then <paramref name="moduleName"/>: for constructor initializers, which run before
    /// <c>nn.Module</c>'s constructor calls into libtorch.</summary>
    internal static string EnsureAvailable(string moduleName)
    {
        EnsureAvailable();
        return moduleName;
    }

    private static Exception? TryLoad()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU); // runs torch's static constructor, which loads libtorch and LibTorchSharp
            return null;
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException
                                      or EntryPointNotFoundException or BadImageFormatException)
        {
            return e;
        }
    }

    // Why the dynamic loader refused libtorch or LibTorchSharp, which TorchSharp's own message leaves out. TorchSharp loads
    // torch_cpu (libtorch) first, then LibTorchSharp, which needs libtorch's symbols and GLIBCXX_3.4.32.
    private static string? NativeLoaderError()
    {
        string? libtorch = LoadError("torch_cpu");
        if (libtorch is not null)
            return libtorch.Length > 0 ? libtorch : "no torch_cpu (libtorch) library beside the application or on the library path.";
        return LoadError("LibTorchSharp") is { Length: > 0 } libTorchSharp ? libTorchSharp : null;
    }

    // Null when the library loads; otherwise the first line of .NET's message that is not about a candidate path that does
    // not exist, or "" when there is none.
    private static string? LoadError(string library)
    {
        try
        {
            NativeLibrary.Load(library, typeof(torch).Assembly, null);
            return null;
        }
        catch (DllNotFoundException e)
        {
            return e.Message.Split('\n').Skip(1).Select(line => line.Trim()).FirstOrDefault(line => line.Length > 0 && !IsAbsentCandidate(line)) ?? "";
        }
    }

    private static bool IsAbsentCandidate(string line)
    {
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && Path.IsPathRooted(line[..colon]) && !File.Exists(line[..colon]);
    }
}
