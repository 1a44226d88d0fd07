using System.Buffers.Binary;
using System.Text.Json;
using Gpt2MLNet.AI;
using Gpt2Server.Wire;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/embeddings</c>: every input tokenized as <see cref="Gpt2EmbeddingGenerator"/> tokenizes text (token-id
/// inputs as they are), checked against the context and the vocabulary (an input longer than the context is refused,
/// as vLLM refuses it, never cut), and embedded by the served model's generator, whose batches run on the same host as
/// the generations, between their decode steps.
/// </summary>
internal sealed class EmbeddingsEndpoint(ServedModel served, AdmissionControl admission)
{
    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        Gpt2EmbeddingGenerator generator = served.Embeddings;
        EmbeddingsRequest request = EmbeddingsRequest.Read(body, generator.Model.Config.EmbeddingSize);
        served.CheckModel(request.Model);
        IReadOnlyList<IReadOnlyList<int>> tokenIds = request.TokenIds ?? [.. request.Texts!.Select(generator.Tokenize)];
        for (int i = 0; i < tokenIds.Count; i++)
            CheckInput(request.InputParam(i), tokenIds[i]);
        using IDisposable place = admission.Admit();
        GeneratedEmbeddings<Embedding<float>> embeddings = await generator.GenerateFromTokensAsync(tokenIds, cancellationToken: context.RequestAborted);
        int tokens = (int)(embeddings.Usage?.InputTokenCount ?? 0);
        served.Metrics.RecordPromptTokens(tokens);
        var usage = new EmbeddingUsage(tokens, tokens);
        if (request.Base64)
            await JsonResponses.WriteAsync(context, 200,
                new EmbeddingList<string>([.. embeddings.Select((e, i) => new EmbeddingData<string>(i, Base64(e.Vector.Span)))], served.ModelId, usage),
                Gpt2ServerJsonContext.Default.EmbeddingListString);
        else
            await JsonResponses.WriteAsync(context, 200,
                new EmbeddingList<float[]>([.. embeddings.Select((e, i) => new EmbeddingData<float[]>(i, e.Vector.ToArray()))], served.ModelId, usage),
                Gpt2ServerJsonContext.Default.EmbeddingListSingleArray);
    }

    private void CheckInput(string param, IReadOnlyList<int> ids)
    {
        if (ids.Count > served.ContextLength)
            throw new OpenAIErrorException(400,
                $"This model's maximum context length is {served.ContextLength} tokens. However, {param} has {ids.Count} tokens. Please reduce the length of {param}.",
                param, "context_length_exceeded");
        for (int j = 0; j < ids.Count; j++)
        {
            if ((uint)ids[j] >= (uint)served.VocabularySize)
                throw new OpenAIErrorException(400, $"{param}[{j}] is the token id {ids[j]}; ids must be from 0 to {served.VocabularySize - 1}.", param, "invalid_value");
        }
    }

    // OpenAI's base64 encoding: the float32 values' little-endian bytes, as its SDKs decode them.
    private static string Base64(ReadOnlySpan<float> vector)
    {
        byte[] bytes = new byte[vector.Length * sizeof(float)];
        for (int i = 0; i < vector.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        return Convert.ToBase64String(bytes);
    }
}
