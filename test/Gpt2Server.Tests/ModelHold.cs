using Gpt2.Torch.Generation;

namespace Gpt2Server.Tests;

/// <summary>
/// Holds a service's model lock (which every decode step and embedding pass takes) on a thread of its own until
/// disposed, so that the server's requests are admitted and wait for the model for as long as a test says.
/// </summary>
internal sealed class ModelHold : IDisposable
{
    private readonly ManualResetEventSlim _release = new();
    private readonly Thread _thread;

    private ModelHold(Gpt2.Torch.Model.CausalLanguageModel model)
    {
        using var held = new ManualResetEventSlim();
        _thread = new Thread(() =>
        {
            using (ModelGate.For(model).EnterScope())
            {
                held.Set();
                _release.Wait();
            }
        });
        _thread.Start();
        held.Wait();
    }

    public static ModelHold Of(Gpt2TextGenerationService service) => new(service.Model);

    public void Dispose()
    {
        _release.Set();
        _thread.Join();
        _release.Dispose();
    }
}
