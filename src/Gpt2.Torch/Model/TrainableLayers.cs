namespace Gpt2.Torch.Model;

/// <summary>Which parts of a <see cref="Gpt2SequenceClassifier"/> fine-tuning updates.</summary>
public enum TrainableLayers
{
    /// <summary>The last transformer block, the final LayerNorm and the head (the book's choice).</summary>
    LastBlock,

    /// <summary>Every parameter.</summary>
    All,

    /// <summary>Only the classification head.</summary>
    HeadOnly,

    /// <summary>
    /// The low-rank adapters <see cref="CausalLanguageModel.AddLoRA"/> added and the classification head. The book wraps its head
    /// in an adapter too; ours trains whole, since with a few classes it has fewer parameters than an adapter would.
    /// </summary>
    LoRA,
}
