namespace Gpt2.Torch.Model;

/// <summary>The linear layers of each transformer block that get low-rank adapters (<see cref="LoRAOptions.Targets"/>).</summary>
[Flags]
public enum LoRATargets
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>The fused query/key/value projection (<c>attn.c_attn</c>).</summary>
    QueryKeyValue = 1,

    /// <summary>The attention output projection (<c>attn.c_proj</c>).</summary>
    AttentionOutput = 2,

    /// <summary>The MLP's widening layer (<c>mlp.c_fc</c>).</summary>
    MlpInput = 4,

    /// <summary>The MLP's narrowing layer (<c>mlp.c_proj</c>).</summary>
    MlpOutput = 8,

    /// <summary>Every linear layer of the blocks, as the book's appendix E does.</summary>
    All = QueryKeyValue | AttentionOutput | MlpInput | MlpOutput,
}
