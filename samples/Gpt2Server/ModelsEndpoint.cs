using Gpt2MLNet.AI;
using Gpt2Server.Wire;

namespace Gpt2Server;

/// <summary><c>GET /v1/models</c>: the one served model, with its context length.</summary>
internal sealed class ModelsEndpoint(ServedModel served)
{
    public Task HandleAsync(HttpContext context) => JsonResponses.WriteAsync(context, 200,
        new ModelList([new ModelCard(served.ModelId, served.Created, Gpt2ChatClient.ProviderName, served.ContextLength)]),
        Gpt2ServerJsonContext.Default.ModelList);
}
