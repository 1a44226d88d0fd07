using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// What an ML.NET zip of this package can carry of a model: its family's ONNX graphs, and a tokenizer the zip's
/// tokenization steps rebuild when it loads without libtorch (GPT-2's built-in one, or a Hugging Face tokenizer whose
/// files travel in the zip). The one place that decides it, so that saving refuses by name instead of writing a zip that
/// scores differently.
/// </summary>
internal static class SavedModelSupport
{
    /// <summary>Why <paramref name="model"/> with <paramref name="tokenizer"/> cannot be saved in a zip, or null when it can.</summary>
    public static string? WhyNotSaveable(CausalLanguageModel model, LanguageModelTokenizer tokenizer)
    {
        if (model.Config.OnnxExport is null)
            return $"the zip holds the model as ONNX, and ONNX export of '{model.Config.ModelType}' models is not implemented yet " +
                $"(it covers {string.Join(", ", LanguageModelConfig.OnnxExportableModelTypes)}); keep the fitted transformer in memory, or save its model as a checkpoint";
        if (!SavedTokenization.CanCarry(tokenizer))
            return $"a zip carries GPT-2's built-in tokenizer or one read from a Hugging Face tokenizer.json, and this model's tokenizer is a {tokenizer.GetType().Name}; " +
                "keep the fitted transformer in memory, or save its model as a checkpoint";
        return null;
    }
}
