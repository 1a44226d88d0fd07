namespace Gpt2.Torch.Generation;

/// <summary>How <see cref="LanguageModelHost.EmbedAsync"/> pools a text's final hidden states into one vector.</summary>
public enum EmbeddingPooling
{
    /// <summary>The mean of the final layer's hidden states over the text's tokens (padding left out). The default: every token counts.</summary>
    Mean,

    /// <summary>The final hidden state of the text's last token, which has attended to all the others (what GPT-2's classifier reads).</summary>
    LastToken,
}
