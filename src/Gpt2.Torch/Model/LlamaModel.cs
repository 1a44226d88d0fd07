using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

// CONTRACT SKELETON: the family-model helper writes the model here (one file, Hugging Face's module names).

/// <summary>The Llama architecture (Llama 3.x, SmolLM2, Qwen2/2.5, Qwen3) after Hugging Face's modeling files.</summary>
public sealed class LlamaModel : CausalLanguageModel
{
    /// <summary>Creates a randomly initialised model.</summary>
    public LlamaModel(LlamaConfig config, Device? device = null) : base("Llama", config) => throw new NotImplementedException();

    /// <inheritdoc />
    public override Tensor TokenEmbedding => throw new NotImplementedException();

    internal override Tensor OutputWeight => throw new NotImplementedException();

    internal override bool IsLastBlockOrFinalNorm(string name) => throw new NotImplementedException();

    internal override void SaveCheckpoint(string folder) => throw new NotImplementedException();

    internal override void LoadCheckpointWeights(string folder) => throw new NotImplementedException();

    private protected override LoRATargets LoRATargetOf(string layerName) => throw new NotImplementedException();

    private protected override Tensor ComputeHiddenStates(Tensor inputIds, AttentionLayout layout, KeyValueCache? cache) => throw new NotImplementedException();
}
