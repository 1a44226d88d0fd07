using System.Buffers.Binary;
using System.ClientModel;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Embeddings;

namespace Gpt2Server.Tests;

/// <summary>
/// <c>POST /v1/embeddings</c> as clients nobody here wrote see it (the OpenAI .NET SDK, which asks for base64, and
/// Microsoft.Extensions.AI's IEmbeddingGenerator over it) and over raw HTTP: every vector equals the in-process
/// <see cref="Gpt2EmbeddingGenerator"/>'s (mean-pooled, unit length) for the same text, the usage counts its tokens, and
/// bad requests are refused by name.
/// </summary>
[TestClass]
public sealed class EmbeddingsTests
{
    private const float Tolerance = 1e-5f;
    private static readonly string[] Texts = ["The cat sat on the mat.", "Embeddings map text to vectors", "ok"];

    private static ServerHost _server = null!;
    private static Gpt2TextGenerationService _service = null!;
    private static Gpt2TextGenerationService _reference = null!;
    private static Gpt2EmbeddingGenerator _expected = null!;
    private static OpenAIClient _openAI = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        _server = await ServerHost.StartAsync(_service);
        _reference = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder, engine: DecodingEngine.TorchSharp);
        _expected = new Gpt2EmbeddingGenerator(_reference.Host, EmbeddingPooling.Mean, normalize: true);
        _openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
        _service.Dispose();
        _reference.Dispose();
    }

    private static async Task<float[][]> ExpectedAsync(params string[] texts) =>
        [.. (await _expected.GenerateAsync(texts)).Select(e => e.Vector.ToArray())];

    private static int TokenCount(params string[] texts) => texts.Sum(t => _expected.Tokenize(t).Length);

    private static void AssertVectorsEqual(float[] expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: dimensions");
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], Tolerance, $"{what}: value {i}");
    }

    [TestMethod]
    public async Task OpenAISdkEmbeddingsEqualTheInProcessGeneratorWithUsage()
    {
        float[][] expected = await ExpectedAsync(Texts);
        long passesBefore = _service.Host.EmbeddingPassCount;

        OpenAIEmbeddingCollection embeddings = await _openAI.GetEmbeddingClient(ServerHost.ModelId).GenerateEmbeddingsAsync(Texts);

        Assert.AreEqual(Texts.Length, embeddings.Count);
        for (int i = 0; i < Texts.Length; i++)
        {
            Assert.AreEqual(i, embeddings[i].Index);
            AssertVectorsEqual(expected[i], embeddings[i].ToFloats().Span, $"text {i}");
        }
        Assert.AreEqual(ServerHost.ModelId, embeddings.Model);
        Assert.AreEqual(TokenCount(Texts), embeddings.Usage.InputTokenCount);
        Assert.AreEqual(TokenCount(Texts), embeddings.Usage.TotalTokenCount);
        Assert.IsTrue(_service.Host.EmbeddingPassCount > passesBefore, "the served service's host ran the embeddings");
    }

    [TestMethod]
    public async Task ExtensionsAIEmbeddingGeneratorOverTheOpenAIAdapterGetsTheSameVectors()
    {
        float[][] expected = await ExpectedAsync(Texts);
        using IEmbeddingGenerator<string, Embedding<float>> generator = _openAI.GetEmbeddingClient(ServerHost.ModelId).AsIEmbeddingGenerator();

        GeneratedEmbeddings<Embedding<float>> embeddings = await generator.GenerateAsync(Texts);

        for (int i = 0; i < Texts.Length; i++)
            AssertVectorsEqual(expected[i], embeddings[i].Vector.Span, $"text {i}");
        Assert.AreEqual(TokenCount(Texts), embeddings.Usage!.InputTokenCount);
        Assert.AreEqual(1, TensorPrimitivesNorm(embeddings[0].Vector.Span), 1e-4, "OpenAI's embeddings have unit length");
    }

    private static double TensorPrimitivesNorm(ReadOnlySpan<float> vector)
    {
        double sum = 0;
        foreach (float v in vector)
            sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    [TestMethod]
    public async Task FloatJsonHasOpenAIsShapeAndBase64DecodesToTheSameFloats()
    {
        float[][] expected = await ExpectedAsync(Texts);
        string input = JsonSerializer.Serialize(Texts);
        (int status, JsonElement json, _) = await _server.PostAsync("v1/embeddings", $$"""{"model":"{{ServerHost.ModelId}}","input":{{input}},"user":"someone"}""");
        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual("list", json.GetProperty("object").GetString());
        Assert.AreEqual(ServerHost.ModelId, json.GetProperty("model").GetString());
        JsonElement[] data = [.. json.GetProperty("data").EnumerateArray()];
        Assert.AreEqual(Texts.Length, data.Length);
        for (int i = 0; i < data.Length; i++)
        {
            Assert.AreEqual("embedding", data[i].GetProperty("object").GetString());
            Assert.AreEqual(i, data[i].GetProperty("index").GetInt32());
            float[] floats = [.. data[i].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())];
            AssertVectorsEqual(expected[i], floats, $"float text {i}");
        }
        Assert.AreEqual(TokenCount(Texts), json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.AreEqual(TokenCount(Texts), json.GetProperty("usage").GetProperty("total_tokens").GetInt32());

        (status, JsonElement encoded, _) = await _server.PostAsync("v1/embeddings",
            $$"""{"model":"{{ServerHost.ModelId}}","input":{{input}},"encoding_format":"base64"}""");
        Assert.AreEqual(200, status, encoded.ToString());
        for (int i = 0; i < data.Length; i++)
        {
            byte[] bytes = Convert.FromBase64String(encoded.GetProperty("data")[i].GetProperty("embedding").GetString()!);
            float[] decoded = new float[bytes.Length / sizeof(float)];
            for (int j = 0; j < decoded.Length; j++)
                decoded[j] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(j * sizeof(float)));
            float[] floats = [.. data[i].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())];
            CollectionAssert.AreEqual(floats, decoded, $"text {i}: base64 carries exactly the floats the JSON numbers do");
        }
    }

    [TestMethod]
    public async Task TokenIdInputsEmbedAsTheTextTheyEncode()
    {
        float[][] expected = await ExpectedAsync(Texts);
        int[][] ids = [.. Texts.Select(_expected.Tokenize)];

        (int status, JsonElement one, _) = await _server.PostAsync("v1/embeddings",
            $$"""{"model":"{{ServerHost.ModelId}}","input":{{JsonSerializer.Serialize(ids[0])}},"encoding_format":"float"}""");
        Assert.AreEqual(200, status, one.ToString());
        AssertVectorsEqual(expected[0], [.. one.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())], "one token list");
        Assert.AreEqual(ids[0].Length, one.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        (status, JsonElement many, _) = await _server.PostAsync("v1/embeddings", $$"""{"model":"{{ServerHost.ModelId}}","input":{{JsonSerializer.Serialize(ids)}}}""");
        Assert.AreEqual(200, status, many.ToString());
        for (int i = 0; i < ids.Length; i++)
            AssertVectorsEqual(expected[i], [.. many.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())], $"token list {i}");
    }

    [TestMethod]
    public async Task DimensionsEqualToTheModelsAreAccepted()
    {
        int size = _reference.Model.Config.EmbeddingSize;
        OpenAIEmbeddingCollection embeddings = await _openAI.GetEmbeddingClient(ServerHost.ModelId).GenerateEmbeddingsAsync(
            ["hello"], new OpenAI.Embeddings.EmbeddingGenerationOptions { Dimensions = size });
        Assert.AreEqual(size, embeddings[0].ToFloats().Length);
    }

    [TestMethod]
    [DataRow("\"input\":\"hi\",\"dimensions\":8", "dimensions", "unsupported_parameter", DisplayName = "dimensions other than the model's")]
    [DataRow("\"input\":\"\"", "input", "invalid_value", DisplayName = "empty string")]
    [DataRow("\"input\":[]", "input", "invalid_value", DisplayName = "empty array")]
    [DataRow("\"input\":[\"a\",\"\"]", "input[1]", "invalid_value", DisplayName = "an empty string in the array")]
    [DataRow("\"input\":[[1,2],[]]", "input[1]", "invalid_value", DisplayName = "an empty token list")]
    [DataRow("\"input\":[\"a\",[1]]", "input[1]", "invalid_type", DisplayName = "strings and token lists mixed")]
    [DataRow("\"input\":[[1,50257]]", "input[0]", "invalid_value", DisplayName = "a token id outside the vocabulary")]
    [DataRow("\"input\":{\"text\":\"hi\"}", "input", "invalid_type", DisplayName = "an object")]
    [DataRow("\"user\":\"x\"", "input", null, DisplayName = "no input")]
    [DataRow("\"input\":\"hi\",\"encoding_format\":\"int8\"", "encoding_format", "invalid_value", DisplayName = "unknown encoding")]
    [DataRow("\"input\":\"hi\",\"truncate_prompt_tokens\":8", "truncate_prompt_tokens", "unsupported_parameter", DisplayName = "vLLM's truncation")]
    public async Task BadRequestsAreRefusedByName(string fields, string param, string? code)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/embeddings", $$"""{"model":"{{ServerHost.ModelId}}",{{fields}}}""");
        AssertError(400, param, code, status, json);
    }

    [TestMethod]
    public async Task AnInputLongerThanTheContextIsRefusedNamingItsIndexAndTheLimit()
    {
        string longText = string.Join(' ', Enumerable.Repeat("word", 80));
        int tokens = _expected.Tokenize(longText).Length;
        Assert.IsTrue(tokens > 64, $"the text has {tokens} tokens, more than the context of 64");

        (int status, JsonElement json, _) = await _server.PostAsync("v1/embeddings",
            $$"""{"model":"{{ServerHost.ModelId}}","input":["short",{{JsonSerializer.Serialize(longText)}}]}""");

        AssertError(400, "input[1]", "context_length_exceeded", status, json);
        string message = json.GetProperty("error").GetProperty("message").GetString()!;
        StringAssert.Contains(message, "64");
        StringAssert.Contains(message, tokens.ToString(System.Globalization.CultureInfo.InvariantCulture));

        int[] longIds = [.. Enumerable.Repeat(11, 65)];
        (status, json, _) = await _server.PostAsync("v1/embeddings", $$"""{"model":"{{ServerHost.ModelId}}","input":{{JsonSerializer.Serialize(longIds)}}}""");
        AssertError(400, "input", "context_length_exceeded", status, json);
    }

    [TestMethod]
    public async Task EmbeddingsTakeAPlaceInTheQueue()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        await using ServerHost server = await ServerHost.StartAsync(service, "--max-queue", "1");
        Task<(int, JsonElement, HttpResponseMessage)> first;
        using (ModelHold.Of(service))
        {
            first = server.PostAsync("v1/embeddings", $$"""{"model":"{{ServerHost.ModelId}}","input":"waiting"}""");
            await server.WaitForAdmittedAsync(1);
            (int status, JsonElement json, _) = await server.PostAsync("v1/embeddings", $$"""{"model":"{{ServerHost.ModelId}}","input":"second"}""");
            Assert.AreEqual(429, status, json.ToString());
            Assert.AreEqual("rate_limit_exceeded", json.GetProperty("error").GetProperty("code").GetString());
            Assert.IsFalse(first.IsCompleted, "the admitted request waits for the model");
        }
        (int firstStatus, JsonElement firstJson, _) = await first;
        Assert.AreEqual(200, firstStatus, firstJson.ToString());
        Assert.AreEqual(0, await server.AdmittedAsync());
    }

    internal static void AssertError(int expectedStatus, string? param, string? code, int status, JsonElement json)
    {
        Assert.AreEqual(expectedStatus, status, json.ToString());
        JsonElement error = json.GetProperty("error");
        Assert.AreEqual("invalid_request_error", error.GetProperty("type").GetString());
        Assert.IsFalse(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.AreEqual(param, error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString(), json.ToString());
        Assert.AreEqual(code, error.GetProperty("code").ValueKind == JsonValueKind.Null ? null : error.GetProperty("code").GetString(), json.ToString());
    }
}
