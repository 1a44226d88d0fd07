using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// The one place fine-tuning chooses what trains: <see cref="FineTuningOptions.TrainableLayers"/> (LoRA when only
/// <see cref="FineTuningOptions.LoRA"/> is set), adding the adapters when LoRA asks for them; without either the model's
/// own trainable flags stand.
/// </summary>
internal static class TrainableParameters
{
    public static void Choose(nn.Module model, FineTuningOptions options)
    {
        if ((options.TrainableLayers ?? (options.LoRA is null ? null : TrainableLayers.LoRA)) is not TrainableLayers layers)
            return;
        switch (model)
        {
            case Gpt2SequenceClassifier classifier:
                classifier.SetTrainableLayers(layers, options.LoRA);
                break;
            case CausalLanguageModel languageModel when layers == TrainableLayers.LoRA:
                languageModel.AddLoRA(options.LoRA ?? languageModel.LoRA ?? new LoRAOptions());
                break;
            case CausalLanguageModel languageModel when layers == TrainableLayers.All:
                foreach (TorchSharp.Modules.Parameter parameter in languageModel.parameters())
                    parameter.requires_grad = true;
                break;
            default:
                throw new ArgumentException(
                    $"TrainableLayers is {layers}, which a {model.GetType().Name} does not have; set TrainableLayers to All or LoRA (LastBlock and HeadOnly are a classifier's).",
                    nameof(FineTuningOptions.TrainableLayers));
        }
    }
}
