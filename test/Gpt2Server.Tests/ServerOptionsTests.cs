using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;

namespace Gpt2Server.Tests;

/// <summary>The command line: refused options name the problem; the prompt format reaches the chat endpoint.</summary>
[TestClass]
public sealed class ServerOptionsTests
{
    [TestMethod]
    [DataRow(new[] { "--urls", "http://127.0.0.1:0" }, "--model", DisplayName = "no model")]
    [DataRow(new[] { "--model", "x", "--prompt-format", "chatml" }, "--prompt-format", DisplayName = "unknown prompt format")]
    [DataRow(new[] { "--model", "x", "--classifier", "/no/such/classifier.zip" }, "--classifier", DisplayName = "missing classifier")]
    [DataRow(new[] { "--model", "x", "--engine", "tensorrt" }, "--engine", DisplayName = "unknown engine")]
    [DataRow(new[] { "--model", "x", "--max-queue", "0" }, "--max-queue", DisplayName = "queue of 0")]
    [DataRow(new[] { "--model", "x", "--max-body-bytes", "lots" }, "--max-body-bytes", DisplayName = "body limit not a number")]
    public void BadCommandLinesAreRefusedByName(string[] args, string option)
    {
        var e = Assert.ThrowsExactly<Gpt2ServerOptionsException>(() => Gpt2ServerApp.Build(args));
        StringAssert.StartsWith(e.Message, option);
    }

    [TestMethod]
    public async Task TheOnnxRuntimeEngineAnswersAsTheTorchSharpServiceDoesInProcess()
    {
        await using ServerHost server = await ServerHost.StartAsync(null, "--engine", "onnxruntime");
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder, engine: DecodingEngine.TorchSharp);
        TextGenerationResult expected = service.Generate("The weather today is", new GenerationOptions { MaxNewTokens = 12 });

        (int status, JsonElement json, _) = await server.PostAsync("v1/completions", $$"""
            {"model":"{{ServerHost.ModelId}}","max_tokens":12,"prompt":"The weather today is"}
            """);
        JsonElement health = JsonDocument.Parse(await server.Http.GetStringAsync("health")).RootElement;

        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual(expected.Text, json.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.AreEqual("torchsharp", service.EngineName);
        Assert.AreEqual("onnxruntime", health.GetProperty("engine").GetString());
    }

    [TestMethod]
    [DataRow(null, "onnxruntime", DisplayName = "auto, the default, on a CPU")]
    [DataRow("torchsharp", "torchsharp", DisplayName = "torchsharp when asked")]
    [DataRow("onnxruntime-int8", "onnxruntime-int8", DisplayName = "int8 when asked")]
    public async Task HealthNamesTheEngineTheServerDecodesWith(string? engine, string expected)
    {
        await using ServerHost server = await ServerHost.StartAsync(null, engine is null ? [] : ["--engine", engine]);
        JsonElement health = JsonDocument.Parse(await server.Http.GetStringAsync("health")).RootElement;
        Assert.AreEqual(expected, health.GetProperty("engine").GetString());
    }

    [TestMethod]
    public async Task TheAlpacaPromptFormatAnswersAsGpt2ChatClientDoesInProcess()
    {
        await using ServerHost server = await ServerHost.StartAsync(null, "--prompt-format", "alpaca", "--model-id", "alpaca-tiny");
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        using var local = new Gpt2ChatClient(service, ChatPromptFormat.Alpaca);
        ChatResponse expected = await local.GetResponseAsync(
            [new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "Name a colour.")], new ChatOptions { MaxOutputTokens = 8 });

        (int status, JsonElement json, _) = await server.PostAsync("v1/chat/completions", """
            {"model":"alpaca-tiny","max_tokens":8,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Name a colour."}]}
            """);

        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual(expected.Text, json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.AreEqual(expected.Usage!.InputTokenCount, json.GetProperty("usage").GetProperty("prompt_tokens").GetInt64());
    }
}
