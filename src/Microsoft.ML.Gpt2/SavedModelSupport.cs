using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// What an ML.NET zip of this package can carry of a model: its family's ONNX graphs, and a tokenizer the zip's
/// tokenization steps rebuild when it loads without libtorch (a family's built-in one: GPT-2's). The one place that
/// decides it, so that saving refuses by name instead of writing a zip that scores differently.
/// </summary>
internal static class SavedModelSupport
{
    /// <summary>Why <paramref name="model"/> with <paramref name="tokenizer"/> cannot be saved in a zip, or null when it can.</summary>
    public static string? WhyNotSaveable(CausalLanguageModel model, LanguageModelTokenizer tokenizer)
    {
        if (model.Config.OnnxExport is null)
            return $"the zip holds the model as ONNX, and ONNX export of '{model.Config.ModelType}' models is not implemented yet " +
                $"(it covers {string.Join(", ", LanguageModelConfig.OnnxExportableModelTypes)}); keep the fitted transformer in memory, or save its model as a checkpoint";
        if (!ReferenceEquals(tokenizer, model.Config.BuiltInTokenizer))
            return $"the zip's tokenization steps rebuild only a built-in tokenizer (GPT-2's), and this '{model.Config.ModelType}' model's tokenizer comes " +
                "from its tokenizer.json; keep the fitted transformer in memory, or save its model as a checkpoint";
        return null;
    }
}
