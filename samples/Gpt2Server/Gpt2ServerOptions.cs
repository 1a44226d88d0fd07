using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.Configuration;

namespace Gpt2Server;

/// <summary>A command-line option of the server that is missing or out of range.</summary>
public sealed class Gpt2ServerOptionsException(string message) : Exception(message);

/// <summary>
/// The server's settings, read from its command line (<c>--model</c>, <c>--classifier</c>, <c>--prompt-format</c>, <c>--engine</c>,
/// <c>--served-model-name</c> (<c>--model-id</c> is its older name), <c>--max-queue</c>, <c>--max-body-bytes</c>, <c>--shutdown-timeout</c>, <c>--api-key</c>; <c>--urls</c> is ASP.NET Core's own).
/// </summary>
public sealed record Gpt2ServerOptions
{
    /// <summary>The address served when <c>--urls</c> is not given.</summary>
    public const string DefaultUrls = "http://127.0.0.1:5080";

    /// <summary>What <c>--help</c> and a bad command line print.</summary>
    public const string Usage =
        "usage: Gpt2Server --model PRESET|HF_ID|FOLDER|CHECKPOINT_DIR [--classifier ZIP] [--prompt-format auto|raw|alpaca|phi3] [--served-model-name NAME]\n" +
        "                  [--engine auto|torchsharp|onnxruntime|onnxruntime-int8|onnxruntime-int4 (auto)]\n" +
        "                  [--max-queue N (64)] [--max-body-bytes N (1048576)] [--shutdown-timeout SECONDS (30)] [--urls " + DefaultUrls + "]\n" +
        "                  [--api-key KEY (or the environment variable " + ApiKeyVariable + "): /v1 routes need 'Authorization: Bearer KEY']";

    /// <summary>The environment variable that gives the API key when <c>--api-key</c> does not.</summary>
    public const string ApiKeyVariable = "GPT2MLNET_API_KEY";

    /// <summary>What <c>LanguageModelSource</c> takes: a preset (124M), a Hugging Face id, a checkpoint folder or a trainer's checkpoint directory.</summary>
    public required string Model { get; init; }

    /// <summary>
    /// The name clients send as <c>model</c> and <c>GET /v1/models</c> lists: <c>--served-model-name</c> (vLLM's flag;
    /// <c>--model-id</c>, its older name here, still works), else the folder name of a folder, else <see cref="Model"/>.
    /// </summary>
    public required string ModelId { get; init; }

    /// <summary>An ML.NET classifier zip served at <c>POST /v1/classify</c>; null for none.</summary>
    public string? ClassifierPath { get; init; }

    /// <summary>How chat messages become a prompt.</summary>
    public ChatPromptFormat? PromptFormat { get; init; }

    /// <summary>
    /// Which engine decodes (<c>--engine</c>): <c>auto</c> (the default: ONNX Runtime float32 on a CPU, TorchSharp on
    /// CUDA), <c>torchsharp</c>, or <c>onnxruntime</c> with float32, int8 or int4 weights (<c>-int8</c>/<c>-int4</c>).
    /// </summary>
    public DecodingEngine Engine { get; init; } = DecodingEngine.Auto;

    /// <summary>Most generation requests admitted at once (running or waiting for the model); more get 429.</summary>
    public int MaxQueue { get; init; } = 64;

    /// <summary>Largest request body, in bytes; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;

    /// <summary>How long running requests may take to finish when the server stops.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The key every <c>/v1</c> route asks for as <c>Authorization: Bearer KEY</c> (<c>--api-key</c>, else
    /// <see cref="ApiKeyVariable"/>); null for an open server. <c>/health</c> and <c>/metrics</c> stay open.
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>Reads the options from configuration (the command line); throws <see cref="Gpt2ServerOptionsException"/> naming a bad one.</summary>
    public static Gpt2ServerOptions From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string model = configuration["model"] is { Length: > 0 } m ? m : throw new Gpt2ServerOptionsException("--model is required.");
        string? classifier = configuration["classifier"];
        if (classifier is not null && !File.Exists(classifier))
            throw new Gpt2ServerOptionsException($"--classifier: no file '{classifier}'; give the path of an ML.NET model zip.");
        ChatPromptFormat? format = (configuration["prompt-format"] ?? "auto").ToLowerInvariant() switch
        {
            "auto" => null,
            "raw" => ChatPromptFormat.RawText,
            "alpaca" => ChatPromptFormat.Alpaca,
            "phi3" => ChatPromptFormat.Phi3,
            string other => throw new Gpt2ServerOptionsException($"--prompt-format: '{other}' is not one of auto (the model's chat template, raw text without one), raw, alpaca, phi3."),
        };
        string engineName = configuration["engine"] ?? DecodingEngine.Auto.Name;
        DecodingEngine engine;
        try
        {
            engine = DecodingEngine.Parse(engineName);
        }
        catch (ArgumentException)
        {
            throw new Gpt2ServerOptionsException($"--engine: '{engineName}' is not one of {string.Join(", ", DecodingEngine.Names)}.");
        }
        string? servedName = configuration["served-model-name"], olderName = configuration["model-id"];
        if (servedName is not null && olderName is not null && servedName != olderName)
            throw new Gpt2ServerOptionsException($"--served-model-name '{servedName}' and --model-id '{olderName}' disagree; --model-id is the older name of --served-model-name, give one.");
        string modelId = (servedName ?? olderName) is { Length: > 0 } id ? id
            : Directory.Exists(model) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(model)))
            : model;
        string? apiKey = configuration["api-key"] ?? configuration[ApiKeyVariable];
        if (apiKey is not null && string.IsNullOrWhiteSpace(apiKey))
            throw new Gpt2ServerOptionsException($"--api-key: the key is empty; give a key, or neither --api-key nor {ApiKeyVariable} for an open server.");
        return new Gpt2ServerOptions
        {
            Model = model,
            ModelId = modelId,
            ClassifierPath = classifier,
            PromptFormat = format,
            Engine = engine,
            MaxQueue = Int(configuration, "max-queue", 64, 1),
            MaxRequestBodyBytes = Int(configuration, "max-body-bytes", 1 << 20, 1024),
            ShutdownTimeout = TimeSpan.FromSeconds(Int(configuration, "shutdown-timeout", 30, 0)),
            ApiKey = apiKey,
        };
    }

    private static int Int(IConfiguration configuration, string name, int fallback, int min)
    {
        string? text = configuration[name];
        if (text is null)
            return fallback;
        if (!int.TryParse(text, out int value) || value < min)
            throw new Gpt2ServerOptionsException($"--{name}: '{text}' is not a whole number of at least {min}.");
        return value;
    }
}
