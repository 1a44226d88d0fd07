using Gpt2.Torch.Generation;

namespace Gpt2Server.Tests;

/// <summary>
/// Holds a host's decode loop between two steps, with a work item of its own that blocks the scheduler thread, and lets
/// it run one round (the work queued before it, then one step of the batch) at a time until a condition holds: the
/// server's requests stay where the test wants them (waiting, running together in the batch) for as long as it looks.
/// Disposing it lets the loop run freely.
/// </summary>
internal sealed class ModelPacer : IAsyncDisposable
{
    private readonly LanguageModelHost _host;
    private Blocker _current;

    private ModelPacer(LanguageModelHost host, Blocker first)
    {
        _host = host;
        _current = first;
    }

    public static async Task<ModelPacer> HoldAsync(LanguageModelHost host)
    {
        Blocker first = Block(host);
        await first.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return new ModelPacer(host, first);
    }

    /// <summary>Lets the loop run a round at a time, holding it between rounds to check <paramref name="done"/>, until it holds (fails after 30 s).</summary>
    public async Task StepUntilAsync(Func<Task<bool>> done, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int rounds = 0;
        while (!await done())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"never: {what} (after {rounds} rounds)");
            Blocker next = Block(_host);   // queued now, so it runs in the round after the one let go
            _current.Release.SetResult();
            _current = next;
            await next.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
            rounds++;
        }
    }

    public ValueTask DisposeAsync()
    {
        _current.Release.TrySetResult();
        return ValueTask.CompletedTask;
    }

    private static Blocker Block(LanguageModelHost host)
    {
        var blocker = new Blocker();
        _ = host.RunAsync(() =>
        {
            blocker.Started.SetResult();
            blocker.Release.Task.Wait();
            return 0;
        });
        return blocker;
    }

    private sealed class Blocker
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
