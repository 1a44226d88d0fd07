using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// One lock per model instance, taken by whatever runs the model outside training: every step and work item of a
/// <see cref="LanguageModelHost"/>, and scorers without a host (the ML.NET classifier). Two hosts over one model, which
/// adapters built from the same model get, therefore never run it at once (TorchSharp modules are not thread-safe);
/// callers that share one host are also batched together.
/// </summary>
internal static class ModelGate
{
    private static readonly ConditionalWeakTable<nn.Module, Lock> Locks = [];

    /// <summary>The lock of <paramref name="model"/>.</summary>
    public static Lock For(nn.Module model) => Locks.GetValue(model, _ => new Lock());

    /// <summary>Runs <paramref name="work"/> holding <paramref name="model"/>'s lock.</summary>
    public static T Run<T>(nn.Module model, Func<T> work)
    {
        lock (For(model))
            return work();
    }
}
