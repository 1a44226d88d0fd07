namespace Gpt2.Torch.Model;

/// <summary>The one check of token ids against a vocabulary, on the host, where ids enter (see <see cref="LanguageModelConfig.CheckTokenIds"/>).</summary>
internal static class TokenIds
{
    /// <summary>Throws when an id of <paramref name="ids"/> is outside [0, <paramref name="vocabularySize"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The message names the id, its position, <paramref name="where"/> and the vocabulary size.</exception>
    public static void Check(ReadOnlySpan<int> ids, int vocabularySize, string parameterName, string? where = null)
    {
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)vocabularySize)
                throw new ArgumentOutOfRangeException(parameterName, ids[i],
                    $"Token id {ids[i]} at position {i}{(where is null ? "" : $" of {where}")} is outside the model's vocabulary [0, {vocabularySize}) " +
                    $"(vocabulary size {vocabularySize}).");
        }
    }
}
