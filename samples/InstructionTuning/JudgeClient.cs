using System.ClientModel;
using Microsoft.Extensions.AI;
using OllamaSharp;
using OpenAI;

namespace InstructionTuning;

/// <summary>The judge named on the command line: <c>ollama:MODEL[@URL]</c> or <c>openai:MODEL@URL</c>, as a chat client.</summary>
/// <param name="Client">The judge.</param>
/// <param name="Description">What to call it in the output.</param>
/// <param name="ContextSize">The context window to ask for per request (Ollama's num_ctx, the book's 2048), or null.</param>
/// <param name="Hint">What to do when it does not answer.</param>
internal sealed record JudgeClient(IChatClient Client, string Description, int? ContextSize, string Hint)
{
    public static JudgeClient Parse(string judge)
    {
        string[] kindAndRest = judge.Split(':', 2);
        if (kindAndRest.Length != 2)
            throw new ArgumentException($"--judge '{judge}' is neither ollama:MODEL[@URL] nor openai:MODEL@URL.");
        string[] modelAndUrl = kindAndRest[1].Split('@', 2);
        string model = modelAndUrl[0];
        switch (kindAndRest[0].ToLowerInvariant())
        {
            case "ollama":
                var url = new Uri(modelAndUrl.Length > 1 ? modelAndUrl[1] : "http://localhost:11434");
                return new JudgeClient(new OllamaApiClient(url, model), $"{model} at {url} (Ollama)", 2048,
                    $"start Ollama there and `ollama pull {model}`, or pass --judge");
            case "openai" when modelAndUrl.Length == 2:
                var endpoint = new Uri(modelAndUrl[1]);
                var credential = new ApiKeyCredential(Environment.GetEnvironmentVariable("OPENAI_API_KEY") is { Length: > 0 } key ? key : "none");
                IChatClient client = new OpenAIClient(credential, new OpenAIClientOptions { Endpoint = endpoint }).GetChatClient(model).AsIChatClient();
                return new JudgeClient(client, $"{model} at {endpoint} (OpenAI-compatible)", null, "check the endpoint, the model name and OPENAI_API_KEY");
            default:
                throw new ArgumentException($"--judge '{judge}' is neither ollama:MODEL[@URL] nor openai:MODEL@URL.");
        }
    }
}
