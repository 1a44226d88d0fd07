using System.Text;

namespace Gpt2.Torch.Data;

/// <summary>Splits a corpus into a training part and a validation part by ratio, as the book does before tokenizing.</summary>
public static class TrainValidationSplit
{
    /// <summary>
    /// The first <paramref name="trainRatio"/> of the text's characters for training and the rest for validation
    /// (the book's <c>text_data[:int(train_ratio * len(text_data))]</c>). Characters are Unicode code points, as in
    /// Python, so a surrogate pair is never cut in two.
    /// </summary>
    public static (string Train, string Validation) SplitText(string text, double trainRatio)
    {
        ArgumentNullException.ThrowIfNull(text);
        OptionChecks.BetweenZeroAndOne(trainRatio, nameof(trainRatio), "0.9");
        int codePoints = text.EnumerateRunes().Count();
        int trainCodePoints = (int)(trainRatio * codePoints);
        int split = 0;
        foreach (Rune rune in text.EnumerateRunes().Take(trainCodePoints))
            split += rune.Utf16SequenceLength;
        return (text[..split], text[split..]);
    }
}
