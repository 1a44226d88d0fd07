namespace Gpt2.Torch.Model;

/// <summary>
/// Low-rank adaptation (LoRA, Hu et al. 2021; the book's appendix E): each targeted linear layer's output gains
/// <c>Alpha x (x A B)</c>, with A [in, rank] and B [rank, out] trained and the layer itself frozen.
/// </summary>
/// <remarks>
/// The update is scaled by <see cref="Alpha"/> as in the book's <c>LoRALayer</c>, not by <c>alpha / rank</c> as in the
/// paper and Hugging Face PEFT: the book's rank-16, alpha-16 run corresponds to PEFT's alpha 256.
/// </remarks>
public sealed record LoRAOptions
{
    /// <summary>Inner dimension of the adapters.</summary>
    public int Rank { get; init; } = 16;

    /// <summary>Scale of the adapters' output.</summary>
    public double Alpha { get; init; } = 16;

    /// <summary>Which linear layers of every block get adapters.</summary>
    public LoRATargets Targets { get; init; } = LoRATargets.All;

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        OptionChecks.AtLeast(Rank, 1, "LoRAOptions.Rank", "16");
        OptionChecks.FiniteNonZero(Alpha, "LoRAOptions.Alpha", "16");
        OptionChecks.Check(Targets != LoRATargets.None && (Targets & ~LoRATargets.All) == 0, "LoRAOptions.Targets", Targets,
            "one or more of the blocks' linear layers (for example LoRATargets.All)");
    }
}
