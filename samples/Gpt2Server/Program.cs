using Gpt2Server;

// dotnet run -c Release --project samples/Gpt2Server -- --model PATH_OR_ID [--classifier ZIP] [--prompt-format auto|alpaca|phi3|raw] [--urls http://127.0.0.1:5080]
WebApplication app;
try
{
    app = Gpt2ServerApp.Build(args);
}
catch (Gpt2ServerOptionsException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Gpt2ServerOptions.Usage);
    return 2;
}
catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or HttpRequestException or InvalidDataException)
{
    // A model or classifier that cannot be loaded: say which and why, without a stack trace.
    Console.Error.WriteLine($"Gpt2Server could not start: {e.Message}");
    return 1;
}
await using (app)
    await app.RunAsync();
return 0;
