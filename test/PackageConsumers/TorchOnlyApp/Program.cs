// Gpt2MLNet.Torch alone with TorchSharp-cpu: generation works with TorchSharp, a service from a model source falls back
// to TorchSharp by itself, and asking for ONNX Runtime decoding, whose native library this application does not have,
// fails with the error that names the package to add.
// Exits non-zero when a check fails.
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;

int failures = 0;
void Check(bool ok, string what)
{
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
    if (!ok)
        failures++;
}

var tiny = new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };
using var model = new Gpt2Model(tiny);
int[] prompt = Gpt2Tokenizer.Default.Encode("Hello, world!");
using (var generator = new Gpt2Generator(model))
{
    int[] output = generator.Generate(prompt, new GenerationOptions { MaxNewTokens = 6, StopAtEndOfText = false });
    Check(output.Length == prompt.Length + 6 && output.Take(prompt.Length).SequenceEqual(prompt), $"TorchSharp generation: {output.Length - prompt.Length} new tokens");
}

// A service from a model source picks its engine: without ONNX Runtime's natives, TorchSharp, and it generates.
using (var service = Gpt2TextGenerationService.Load(LanguageModelSource.Random(tiny)))
{
    TextGenerationResult result = service.Generate("Hello, world!", new GenerationOptions { MaxNewTokens = 4, StopAtEndOfText = false });
    Check(service.EngineName == "torchsharp" && result.CompletionTokenCount == 4,
        $"default engine without ONNX Runtime's natives: {service.EngineName}, {result.CompletionTokenCount} new tokens");
}

try
{
    using var generator = new Gpt2Generator(model, onnxRuntime: new OnnxRuntimeDecoding());
    Check(false, "ONNX Runtime decoding without ONNX Runtime's native library should have failed");
}
catch (InvalidOperationException e)
{
    Check(e.Message.Contains("dotnet add package Microsoft.ML.OnnxRuntime", StringComparison.Ordinal),
        $"ONNX Runtime decoding without its native library: {e.Message}");
}

Console.WriteLine(failures == 0 ? "TorchOnlyApp: all checks passed" : $"TorchOnlyApp: {failures} check(s) failed");
return failures == 0 ? 0 : 1;
