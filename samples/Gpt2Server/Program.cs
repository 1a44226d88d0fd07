using Gpt2Server;

// dotnet run -c Release --project samples/Gpt2Server -- --model PATH_OR_ID [--classifier ZIP] [--prompt-format alpaca|phi3|raw] [--urls http://127.0.0.1:5080]
try
{
    await using var app = Gpt2ServerApp.Build(args);
    await app.RunAsync();
    return 0;
}
catch (Gpt2ServerOptionsException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Gpt2ServerOptions.Usage);
    return 2;
}
