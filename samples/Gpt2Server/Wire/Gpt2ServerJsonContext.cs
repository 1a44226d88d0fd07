using System.Text.Json.Serialization;

namespace Gpt2Server.Wire;

/// <summary>The source-generated serializers of the server's answers, in OpenAI's snake_case names.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(TextCompletion))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(HealthReport))]
[JsonSerializable(typeof(OpenAIErrorResponse))]
[JsonSerializable(typeof(ClassificationList))]
[JsonSerializable(typeof(EmbeddingList<float[]>))]
[JsonSerializable(typeof(EmbeddingList<string>))]
[JsonSerializable(typeof(ResponseObject))]
[JsonSerializable(typeof(ResponseLifecycleEvent))]
[JsonSerializable(typeof(ResponseOutputItemEvent))]
[JsonSerializable(typeof(ResponseContentPartEvent))]
[JsonSerializable(typeof(ResponseTextDeltaEvent))]
[JsonSerializable(typeof(ResponseTextDoneEvent))]
[JsonSerializable(typeof(ResponseOutputMessage))]
[JsonSerializable(typeof(ResponseFunctionCall))]
[JsonSerializable(typeof(ResponseFunctionCallArgumentsDeltaEvent))]
[JsonSerializable(typeof(ResponseFunctionCallArgumentsDoneEvent))]
public sealed partial class Gpt2ServerJsonContext : JsonSerializerContext;
