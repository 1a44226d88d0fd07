using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;

namespace Gpt2Server.Tests;

/// <summary>
/// The prompt the server checks against the context is the prompt it generates from: rendered with the served prompt
/// format and tokenized once, its token count is the usage's prompt_tokens, whole and streamed.
/// </summary>
[TestClass]
public sealed class PromptTokenizationTests
{
    private static ServerHost _server = null!;
    private static Gpt2TextGenerationService _reference = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await ServerHost.StartAsync(null, "--prompt-format", "phi3");
        _reference = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
        _reference.Dispose();
    }

    [TestMethod]
    [DataRow(false, DisplayName = "whole")]
    [DataRow(true, DisplayName = "streamed")]
    public async Task ChatUsageCountsTheRenderedPromptsTokensAndTheAnswerIsGeneratedFromThem(bool stream)
    {
        string prompt = ChatPromptFormat.Phi3.Render([new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "Name a colour.")]);
        int promptTokens = _reference.Tokenizer.Encode(prompt).Length;
        TextGenerationResult expected = _reference.Generate(prompt, new GenerationOptions { MaxNewTokens = 6 });
        Assert.AreEqual(promptTokens, expected.PromptTokenCount);

        string body = $$"""
            {"model":"{{ServerHost.ModelId}}","max_tokens":6,"stream":{{(stream ? "true,\"stream_options\":{\"include_usage\":true}" : "false")}},
             "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Name a colour."}]}
            """;
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await _server.Http.PostAsync("v1/chat/completions", content);
        string text = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(200, (int)response.StatusCode, text);
        JsonElement usage;
        string answer;
        if (stream)
        {
            JsonElement[] chunks = [.. text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement)];
            answer = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1)
                .Select(c => c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out JsonElement t) ? t.GetString() : ""));
            usage = chunks[^1].GetProperty("usage");
        }
        else
        {
            JsonElement json = JsonDocument.Parse(text).RootElement;
            answer = json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
            usage = json.GetProperty("usage");
        }
        Assert.AreEqual(expected.Text, answer);
        Assert.AreEqual(promptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.AreEqual(expected.CompletionTokenCount, usage.GetProperty("completion_tokens").GetInt32());
        Assert.AreEqual(promptTokens + expected.CompletionTokenCount, usage.GetProperty("total_tokens").GetInt32());
    }

    [TestMethod]
    public async Task TheContextCheckCountsTheRenderedPromptNotTheRawMessages()
    {
        // The phi3 template adds tokens around the message: a message that fits the context alone may not once rendered.
        string message = string.Join(' ', Enumerable.Repeat("word", 30));
        int rendered = _reference.Tokenizer.Encode(ChatPromptFormat.Phi3.Render([new ChatMessage(ChatRole.User, message)])).Length;
        int asked = 64 - rendered + 1;
        Assert.IsTrue(asked > 0 && 30 + asked <= 64, $"the test needs a template that adds tokens ({rendered} rendered)");

        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions",
            $$"""{"model":"{{ServerHost.ModelId}}","max_tokens":{{asked}},"messages":[{"role":"user","content":"{{message}}"}]}""");
        Assert.AreEqual(400, status, json.ToString());
        Assert.AreEqual("context_length_exceeded", json.GetProperty("error").GetProperty("code").GetString());
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), $"{rendered} in the messages");
    }
}
