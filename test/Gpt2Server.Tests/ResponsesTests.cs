#pragma warning disable OPENAI001 // The Responses client is marked experimental in the OpenAI SDK.
using System.ClientModel;
using System.Text;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Responses;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Gpt2Server.Tests;

/// <summary>
/// <c>POST /v1/responses</c> as the OpenAI .NET SDK's <see cref="ResponsesClient"/> and Microsoft.Extensions.AI's
/// IChatClient over it see it, and over raw HTTP: the text equals <see cref="Gpt2ChatClient"/>'s greedy answer for the
/// same messages and instructions, streamed deltas concatenate to it, the usage and status are right, the events come in
/// OpenAI's order, and what needs stored responses or tools is refused by name.
/// </summary>
[TestClass]
public sealed class ResponsesTests
{
    private static ServerHost _server = null!;
    private static Gpt2TextGenerationService _reference = null!;
    private static Gpt2ChatClient _local = null!;
    private static OpenAIClient _openAI = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await ServerHost.StartAsync();
        _reference = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        _local = new Gpt2ChatClient(_reference);
        _openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
        _local.Dispose();
        _reference.Dispose();
    }

    private static Task<ChatResponse> ExpectedAsync(string? instructions, int maxTokens, params AIChatMessage[] messages) =>
        _local.GetResponseAsync(messages, new ChatOptions { Instructions = instructions, MaxOutputTokens = maxTokens });

    [TestMethod]
    public async Task OpenAISdkResponseEqualsTheChatClientsGreedyAnswerWithUsageAndIncompleteStatus()
    {
        ChatResponse expected = await ExpectedAsync("Answer briefly.", 12,
            new AIChatMessage(ChatRole.User, "Name a colour."), new AIChatMessage(ChatRole.Assistant, "Blue."), new AIChatMessage(ChatRole.User, "Another one?"));
        Assert.AreEqual(Microsoft.Extensions.AI.ChatFinishReason.Length, expected.FinishReason, "a random model writes to the limit");

        var options = new CreateResponseOptions
        {
            Model = ServerHost.ModelId,
            Instructions = "Answer briefly.",
            MaxOutputTokenCount = 12,
        };
        options.InputItems.Add(ResponseItem.CreateUserMessageItem("Name a colour."));
        options.InputItems.Add(ResponseItem.CreateAssistantMessageItem("Blue.", []));
        options.InputItems.Add(ResponseItem.CreateUserMessageItem([ResponseContentPart.CreateInputTextPart("Another "), ResponseContentPart.CreateInputTextPart("one?")]));
        ResponseResult response = await _openAI.GetResponsesClient().CreateResponseAsync(options);

        Assert.AreEqual(expected.Text, response.GetOutputText());
        Assert.AreEqual(ResponseStatus.Incomplete, response.Status);
        Assert.AreEqual(ResponseIncompleteStatusReason.MaxOutputTokens, response.IncompleteStatusDetails.Reason);
        Assert.AreEqual(ServerHost.ModelId, response.Model);
        StringAssert.StartsWith(response.Id, "resp_");
        var message = (MessageResponseItem)response.OutputItems.Single();
        StringAssert.StartsWith(message.Id, "msg_");
        Assert.AreEqual(MessageRole.Assistant, message.Role);
        Assert.AreEqual(expected.Usage!.InputTokenCount, response.Usage.InputTokenCount);
        Assert.AreEqual(12, response.Usage.OutputTokenCount);
        Assert.AreEqual(expected.Usage.InputTokenCount + 12, response.Usage.TotalTokenCount);
        Assert.AreEqual(0, response.Usage.InputTokenDetails.CachedTokenCount);
        Assert.AreEqual(0, response.Usage.OutputTokenDetails.ReasoningTokenCount);
    }

    [TestMethod]
    public async Task OpenAISdkStreamingDeltasConcatenateToTheGreedyAnswer()
    {
        ChatResponse expected = await ExpectedAsync(null, 20, new AIChatMessage(ChatRole.User, "Once upon a time"));

        var text = new StringBuilder();
        int deltas = 0;
        ResponseResult? completed = null;
        await foreach (StreamingResponseUpdate update in _openAI.GetResponsesClient().CreateResponseStreamingAsync(
            new CreateResponseOptions(ServerHost.ModelId, [ResponseItem.CreateUserMessageItem("Once upon a time")])
            { MaxOutputTokenCount = 20, StreamingEnabled = true }))
        {
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
            {
                text.Append(delta.Delta);
                deltas++;
            }
            else if (update is StreamingResponseIncompleteUpdate incomplete)
                completed = incomplete.Response;
        }

        Assert.AreEqual(expected.Text, text.ToString());
        Assert.IsTrue(deltas > 1, $"streamed in {deltas} deltas");
        Assert.IsNotNull(completed, "the stream ends with response.incomplete (the token limit ended the text)");
        Assert.AreEqual(expected.Text, completed.GetOutputText());
        Assert.AreEqual(20, completed.Usage.OutputTokenCount);
        Assert.AreEqual(expected.Usage!.InputTokenCount, completed.Usage.InputTokenCount);
    }

    [TestMethod]
    public async Task ExtensionsAIChatClientOverTheResponsesClientGetsTheGreedyAnswer()
    {
        AIChatMessage[] messages = [new AIChatMessage(ChatRole.System, "You are terse."), new AIChatMessage(ChatRole.User, "In the beginning")];
        var options = new ChatOptions { MaxOutputTokens = 15, Instructions = "Reply in English." };
        ChatResponse expected = await _local.GetResponseAsync(messages, options);
        using IChatClient client = _openAI.GetResponsesClient().AsIChatClient(ServerHost.ModelId);

        ChatResponse response = await client.GetResponseAsync(messages, options);
        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(expected.Usage!.InputTokenCount, response.Usage!.InputTokenCount);
        Assert.AreEqual(15, response.Usage.OutputTokenCount);

        var streamed = new StringBuilder();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(messages, options))
            streamed.Append(update.Text);
        Assert.AreEqual(expected.Text, streamed.ToString());
    }

    [TestMethod]
    public async Task RawHttpResponseHasOpenAIsShapeAndEchoesTheRequest()
    {
        ChatResponse expected = await ExpectedAsync(null, 8, new AIChatMessage(ChatRole.User, "Hello there"));
        (int status, JsonElement json, _) = await _server.PostAsync("v1/responses", $$"""
            {"model":"{{ServerHost.ModelId}}","input":"Hello there","max_output_tokens":8,"store":true,"metadata":{"trace":"abc"},"user":"u1","top_p":1}
            """);

        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual("response", json.GetProperty("object").GetString());
        Assert.AreEqual("incomplete", json.GetProperty("status").GetString());
        Assert.AreEqual("max_output_tokens", json.GetProperty("incomplete_details").GetProperty("reason").GetString());
        Assert.IsTrue(json.GetProperty("created_at").GetInt64() > 1_700_000_000);
        Assert.AreEqual(JsonValueKind.Null, json.GetProperty("error").ValueKind);
        Assert.AreEqual(JsonValueKind.Null, json.GetProperty("previous_response_id").ValueKind);
        Assert.IsFalse(json.GetProperty("store").GetBoolean(), "nothing is stored, and the response says so");
        Assert.AreEqual("abc", json.GetProperty("metadata").GetProperty("trace").GetString());
        Assert.AreEqual(8, json.GetProperty("max_output_tokens").GetInt32());
        Assert.AreEqual("u1", json.GetProperty("user").GetString());
        Assert.AreEqual("text", json.GetProperty("text").GetProperty("format").GetProperty("type").GetString());
        JsonElement item = json.GetProperty("output").EnumerateArray().Single();
        Assert.AreEqual("message", item.GetProperty("type").GetString());
        Assert.AreEqual("assistant", item.GetProperty("role").GetString());
        Assert.AreEqual("incomplete", item.GetProperty("status").GetString());
        JsonElement part = item.GetProperty("content").EnumerateArray().Single();
        Assert.AreEqual("output_text", part.GetProperty("type").GetString());
        Assert.AreEqual(expected.Text, part.GetProperty("text").GetString());
        Assert.AreEqual(0, part.GetProperty("annotations").GetArrayLength());
        JsonElement usage = json.GetProperty("usage");
        Assert.AreEqual(expected.Usage!.InputTokenCount, usage.GetProperty("input_tokens").GetInt32());
        Assert.AreEqual(8, usage.GetProperty("output_tokens").GetInt32());
        Assert.AreEqual(expected.Usage.InputTokenCount + 8, usage.GetProperty("total_tokens").GetInt32());
        Assert.AreEqual(0, usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.AreEqual(0, usage.GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32());
    }

    [TestMethod]
    public async Task AnAnswerEndedByEndOfTextIsCompletedWholeAndStreamed()
    {
        using Gpt2TextGenerationService service = EndOfTextModel();
        using var local = new Gpt2ChatClient(service);
        ChatResponse expected = await local.GetResponseAsync([new AIChatMessage(ChatRole.User, "The end")], new ChatOptions { MaxOutputTokens = 10 });
        Assert.AreEqual(Microsoft.Extensions.AI.ChatFinishReason.Stop, expected.FinishReason, "the model writes end-of-text first");
        await using ServerHost server = await ServerHost.StartAsync(service);

        (int status, JsonElement json, _) = await server.PostAsync("v1/responses", $$"""{"model":"{{ServerHost.ModelId}}","input":"The end","max_output_tokens":10}""");
        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual("completed", json.GetProperty("status").GetString());
        Assert.AreEqual(JsonValueKind.Null, json.GetProperty("incomplete_details").ValueKind);
        Assert.AreEqual("completed", json.GetProperty("output")[0].GetProperty("status").GetString());
        Assert.AreEqual(expected.Text, json.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.AreEqual(expected.Usage!.OutputTokenCount, json.GetProperty("usage").GetProperty("output_tokens").GetInt64());

        var client = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });
        ResponseResult? completed = null;
        await foreach (StreamingResponseUpdate update in client.GetResponsesClient().CreateResponseStreamingAsync(
            new CreateResponseOptions(ServerHost.ModelId, [ResponseItem.CreateUserMessageItem("The end")]) { MaxOutputTokenCount = 10, StreamingEnabled = true }))
        {
            if (update is StreamingResponseCompletedUpdate done)
                completed = done.Response;
        }
        Assert.IsNotNull(completed, "the stream ends with response.completed");
        Assert.AreEqual(ResponseStatus.Completed, completed.Status);
        Assert.AreEqual(expected.Text, completed.GetOutputText());
    }

    // A tiny GPT-2 whose every final hidden state is the same vector v (the last LayerNorm's weight is 0, its bias v)
    // and whose end-of-text embedding, tied to the output head, is 10 v: end-of-text is by far the likeliest token.
    private static Gpt2TextGenerationService EndOfTextModel()
    {
        var model = new Gpt2.Torch.Model.Gpt2Model(new Gpt2.Torch.Model.Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 },
            TorchSharp.torch.CPU);
        using (TorchSharp.torch.no_grad())
        {
            Dictionary<string, TorchSharp.Modules.Parameter> parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            using TorchSharp.torch.Tensor v = TorchSharp.torch.full(32, 1 / Math.Sqrt(32));
            parameters["ln_f.weight"].zero_();
            parameters["ln_f.bias"].copy_(v);
            using TorchSharp.torch.Tensor scaled = v * 10;
            parameters["wte.weight"][Gpt2.Torch.Tokenization.Gpt2Tokenizer.EndOfTextTokenId].copy_(scaled);
        }
        return new Gpt2TextGenerationService(model, ownsModel: true);
    }

    [TestMethod]
    public async Task StreamedEventsComeInOpenAIsOrderWithSequenceNumbers()
    {
        ChatResponse expected = await ExpectedAsync(null, 10, new AIChatMessage(ChatRole.User, "Roses are red"));
        using var content = new StringContent(
            $$"""{"model":"{{ServerHost.ModelId}}","input":[{"role":"user","content":[{"type":"input_text","text":"Roses are red"}]}],"max_output_tokens":10,"stream":true}""",
            Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await _server.Http.PostAsync("v1/responses", content);
        Assert.AreEqual(200, (int)response.StatusCode);
        Assert.AreEqual("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        string body = await response.Content.ReadAsStringAsync();

        Assert.IsFalse(body.Contains("[DONE]", StringComparison.Ordinal), "the Responses API's stream has no [DONE]");
        var events = new List<(string Name, JsonElement Data)>();
        foreach (string block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string[] lines = block.Split('\n');
            Assert.AreEqual(2, lines.Length, block);
            StringAssert.StartsWith(lines[0], "event: ");
            StringAssert.StartsWith(lines[1], "data: ");
            JsonElement data = JsonDocument.Parse(lines[1]["data: ".Length..]).RootElement;
            Assert.AreEqual(lines[0]["event: ".Length..], data.GetProperty("type").GetString(), "the event line names the data's type");
            events.Add((lines[0]["event: ".Length..], data));
        }
        string[] names = [.. events.Select(e => e.Name)];
        string[] deltas = [.. names.Where(n => n == "response.output_text.delta")];
        Assert.IsTrue(deltas.Length > 1);
        CollectionAssert.AreEqual(
            new[] { "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added" }
                .Concat(deltas)
                .Concat(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]).ToArray(),
            names);
        CollectionAssert.AreEqual(Enumerable.Range(0, events.Count).ToArray(), events.Select(e => e.Data.GetProperty("sequence_number").GetInt32()).ToArray());

        Assert.AreEqual("in_progress", events[0].Data.GetProperty("response").GetProperty("status").GetString());
        string itemId = events[2].Data.GetProperty("item").GetProperty("id").GetString()!;
        JsonElement[] deltaEvents = [.. events.Where(e => e.Name == "response.output_text.delta").Select(e => e.Data)];
        Assert.IsTrue(deltaEvents.All(d => d.GetProperty("item_id").GetString() == itemId
            && d.GetProperty("output_index").GetInt32() == 0 && d.GetProperty("content_index").GetInt32() == 0));
        Assert.AreEqual(expected.Text, string.Concat(deltaEvents.Select(d => d.GetProperty("delta").GetString())));
        Assert.AreEqual(expected.Text, events[^4].Data.GetProperty("text").GetString());
        Assert.AreEqual(expected.Text, events[^2].Data.GetProperty("item").GetProperty("content")[0].GetProperty("text").GetString());
        JsonElement final = events[^1].Data.GetProperty("response");
        Assert.AreEqual("incomplete", final.GetProperty("status").GetString());
        Assert.AreEqual(10, final.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.AreEqual(expected.Text, final.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [TestMethod]
    [DataRow("\"previous_response_id\":\"resp_123\"", "previous_response_id", "unsupported_parameter", DisplayName = "previous_response_id")]
    [DataRow("\"conversation\":\"conv_1\"", "conversation", "unsupported_parameter", DisplayName = "conversation")]
    [DataRow("\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{}}]", "tools", "unsupported_parameter", DisplayName = "tools on a model whose format renders none")]
    [DataRow("\"tools\":[{\"type\":\"web_search\"}]", "tools[0].type", "unsupported_parameter", DisplayName = "a hosted tool")]
    [DataRow("\"background\":true", "background", "unsupported_parameter", DisplayName = "background")]
    [DataRow("\"reasoning\":{\"effort\":\"high\"}", "reasoning", "unsupported_parameter", DisplayName = "reasoning")]
    [DataRow("\"top_logprobs\":3", "top_logprobs", "unsupported_parameter", DisplayName = "top_logprobs")]
    [DataRow("\"truncation\":\"auto\"", "truncation", "unsupported_parameter", DisplayName = "truncation auto")]
    [DataRow("\"include\":[\"message.output_text.logprobs\"]", "include", "unsupported_parameter", DisplayName = "include logprobs")]
    public async Task FieldsThatWouldChangeTheAnswerAreRefusedByName(string field, string param, string code)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/responses", $$"""{"model":"{{ServerHost.ModelId}}","input":"hi","max_output_tokens":2,{{field}}}""");
        EmbeddingsTests.AssertError(400, param, code, status, json);
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), $"'{param}'", "the message names the field");
    }

    [TestMethod]
    public async Task TextFormatJsonSchemaConstrainsTheAnswerAsTheChatClientsResponseFormatDoes()
    {
        const string schema = """
            {"type":"object","properties":{"colour":{"type":"string","enum":["red","green","blue"]},"sure":{"type":"boolean"}},
             "required":["colour","sure"],"additionalProperties":false}
            """;
        using JsonDocument schemaDocument = JsonDocument.Parse(schema);
        ChatResponse expected = await _local.GetResponseAsync([new AIChatMessage(ChatRole.User, "Pick a colour")],
            new ChatOptions { MaxOutputTokens = 40, ResponseFormat = ChatResponseFormat.ForJsonSchema(schemaDocument.RootElement, "pick", "A colour.") });
        Assert.AreEqual(Microsoft.Extensions.AI.ChatFinishReason.Stop, expected.FinishReason, $"the document ends within the limit: {expected.Text}");

        var options = new CreateResponseOptions(ServerHost.ModelId, [ResponseItem.CreateUserMessageItem("Pick a colour")])
        {
            MaxOutputTokenCount = 40,
            TextOptions = new ResponseTextOptions
            {
                TextFormat = ResponseTextFormat.CreateJsonSchemaFormat("pick", BinaryData.FromString(schema), "A colour.", jsonSchemaIsStrict: true),
            },
        };
        ResponseResult response = await _openAI.GetResponsesClient().CreateResponseAsync(options);

        string text = response.GetOutputText();
        Assert.AreEqual(expected.Text, text);
        Assert.AreEqual(ResponseStatus.Completed, response.Status);
        using JsonDocument answer = JsonDocument.Parse(text);
        Assert.IsTrue(Json.Schema.JsonSchema.FromText(schema).Evaluate(answer.RootElement).IsValid, $"JsonSchema.Net validates {text}");
        Assert.AreEqual(ResponseTextFormatKind.JsonSchema, response.TextOptions.TextFormat.Kind, "text.format is echoed");

        (int status, JsonElement json, _) = await _server.PostAsync("v1/responses",
            $$"""{"model":"{{ServerHost.ModelId}}","input":"Pick a colour","max_output_tokens":40,"text":{"format":{"type":"json_schema","name":"pick","schema":""" + schema + "}}}");
        Assert.AreEqual(200, status, json.ToString());
        JsonElement format = json.GetProperty("text").GetProperty("format");
        Assert.AreEqual("json_schema", format.GetProperty("type").GetString());
        Assert.AreEqual("pick", format.GetProperty("name").GetString());
        Assert.IsTrue(format.GetProperty("strict").GetBoolean());
        Assert.AreEqual(expected.Text, json.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [TestMethod]
    public async Task TextFormatJsonObjectStreamsAJsonObject()
    {
        ChatResponse expected = await _local.GetResponseAsync([new AIChatMessage(ChatRole.User, "Some JSON")],
            new ChatOptions { MaxOutputTokens = 30, ResponseFormat = ChatResponseFormat.Json });
        var text = new StringBuilder();
        await foreach (StreamingResponseUpdate update in _openAI.GetResponsesClient().CreateResponseStreamingAsync(
            new CreateResponseOptions(ServerHost.ModelId, [ResponseItem.CreateUserMessageItem("Some JSON")])
            {
                MaxOutputTokenCount = 30,
                StreamingEnabled = true,
                TextOptions = new ResponseTextOptions { TextFormat = ResponseTextFormat.CreateJsonObjectFormat() },
            }))
        {
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
                text.Append(delta.Delta);
        }
        Assert.AreEqual(expected.Text, text.ToString());
        StringAssert.StartsWith(text.ToString().TrimStart(), "{", "the answer is constrained to a JSON object");
    }

    [TestMethod]
    public async Task PreviousResponseIdIsRefusedSayingResponsesAreNotStored()
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/responses",
            $$"""{"model":"{{ServerHost.ModelId}}","input":"hi","previous_response_id":"resp_abc"}""");
        Assert.AreEqual(400, status);
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), "does not store responses");
    }

    [TestMethod]
    [DataRow("\"input\":[]", "input", "invalid_type", DisplayName = "empty input list")]
    [DataRow("\"max_output_tokens\":2", "input", null, DisplayName = "no input")]
    [DataRow("\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"42\"}]", "input[0].type", "unsupported_parameter", DisplayName = "a tool output item")]
    [DataRow("\"input\":[{\"type\":\"reasoning\",\"summary\":[]}]", "input[0].type", "unsupported_parameter", DisplayName = "a reasoning item")]
    [DataRow("\"input\":[{\"role\":\"tool\",\"content\":\"42\"}]", "input[0].role", null, DisplayName = "tool role")]
    [DataRow("\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"http://x/y.png\"}]}]", "input[0].content[0]", "unsupported_parameter", DisplayName = "an image")]
    [DataRow("\"input\":\"hi\",\"max_output_tokens\":0", "max_output_tokens", "invalid_value", DisplayName = "max_output_tokens 0")]
    [DataRow("\"input\":\"hi\",\"max_output_tokens\":64", "input", "context_length_exceeded", DisplayName = "max_output_tokens fills the context")]
    [DataRow("\"input\":\"hi\",\"temperature\":3", "temperature", "invalid_value", DisplayName = "temperature too high")]
    [DataRow("\"input\":\"hi\",\"metadata\":{\"n\":1}", "metadata", "invalid_type", DisplayName = "metadata not strings")]
    [DataRow("\"input\":\"hi\",\"store\":\"yes\"", "store", "invalid_type", DisplayName = "store not a bool")]
    [DataRow("\"input\":\"hi\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\",\"schema\":{\"type\":\"string\",\"pattern\":\"a+\"}}}", "text.format", "invalid_value", DisplayName = "a schema keyword decoding cannot follow")]
    [DataRow("\"input\":\"hi\",\"text\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"type\":\"object\"}}}", "text.format.name", "invalid_value", DisplayName = "json_schema without a name")]
    [DataRow("\"input\":\"hi\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\"}}", "text.format.schema", "invalid_type", DisplayName = "json_schema without a schema")]
    [DataRow("\"input\":\"hi\",\"text\":{\"format\":{\"type\":\"yaml\"}}", "text.format", "invalid_value", DisplayName = "an unknown format")]
    [DataRow("\"input\":\"hi\",\"tool_choice\":\"required\"", "tool_choice", "invalid_value", DisplayName = "tool_choice required without tools")]
    [DataRow("\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"}]", "input[0].type", "unsupported_parameter", DisplayName = "a function call on a model whose format renders none")]
    public async Task BadRequestsGetOpenAIErrorJsonWith400(string fields, string param, string? code)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/responses", $$"""{"model":"{{ServerHost.ModelId}}",{{fields}}}""");
        EmbeddingsTests.AssertError(400, param, code, status, json);
    }

    [TestMethod]
    public async Task HarmlessValuesAreAccepted()
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/responses", $$$"""
            {"model":"{{{ServerHost.ModelId}}}","input":[{"type":"message","role":"developer","content":"Be kind."},{"role":"user","content":"hi"}],
             "max_output_tokens":2,"tools":[],"tool_choice":"none","text":{"format":{"type":"text"}},"reasoning":{},"top_logprobs":0,
             "truncation":"disabled","include":[],"background":false,"parallel_tool_calls":false,"store":false,"service_tier":"auto",
             "previous_response_id":null,"stream_options":null,"safety_identifier":"s","prompt_cache_key":"k"}
            """);
        Assert.AreEqual(200, status, json.ToString());
    }
}
