using System.Text.Json;
using Gpt2Server.Wire;

namespace Gpt2Server;

/// <summary><c>POST /v1/classify</c> (with <c>--classifier</c>): <c>{"texts":[...]}</c> in, one label and the probabilities per text out.</summary>
internal sealed class ClassifyEndpoint(Gpt2ServerClassifier classifier)
{
    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("texts", out JsonElement texts) || texts.ValueKind != JsonValueKind.Array
            || texts.GetArrayLength() == 0 || texts.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
            throw new OpenAIErrorException(400, "'texts' is required: a non-empty array of strings.", "texts");
        if (texts.GetArrayLength() > Gpt2ServerClassifier.MaxTexts)
            throw new OpenAIErrorException(400, $"At most {Gpt2ServerClassifier.MaxTexts} texts per request.", "texts", "invalid_value");
        string[] inputs = [.. texts.EnumerateArray().Select(t => t.GetString()!)];
        var data = new List<Classification>(inputs.Length);
        for (int i = 0; i < inputs.Length; i++)
        {
            context.RequestAborted.ThrowIfCancellationRequested();
            (string label, IReadOnlyList<(string Label, float Probability)> probabilities) = classifier.Classify(inputs[i]);
            var byLabel = new Dictionary<string, float>();
            foreach ((string name, float p) in probabilities)
                byLabel[name] = p;
            data.Add(new Classification(i, label, byLabel));
        }
        await JsonResponses.WriteAsync(context, 200, new ClassificationList(data), Gpt2ServerJsonContext.Default.ClassificationList);
    }
}
