using System.Text;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

/// <summary>Unicode normalization (Hugging Face's NFC and NFKC normalizers) as a Microsoft.ML.Tokenizers normalizer.</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public NormalizationForm Form { get; } = form;

    public override string Normalize(string original) => original.Normalize(Form);

    public override string Normalize(ReadOnlySpan<char> original) => original.ToString().Normalize(Form);
}
