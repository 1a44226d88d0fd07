using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// Cuts text into the pieces a pre-tokenization regular expression matches, reading characters beyond the Basic
/// Multilingual Plane as the single code points Hugging Face's regex engine sees.
/// </summary>
/// <remarks>
/// .NET matches UTF-16 units, so a letter or digit written as a surrogate pair (CJK Extension B, 𝐀, 𝟏) is two
/// non-letters to <c>\p{L}</c> and <c>\p{N}</c>, and a piece such as <c>a𠀀</c> or <c> 𝟏</c> is cut differently from Hugging
/// Face. Where the text holds surrogate pairs, the pattern runs on a copy in which each pair is one stand-in character of
/// the same kind (a letter, a number, or a symbol), and the pieces are mapped back to the text.
/// Added tokens, when given, are cut out first and returned as pieces of their own; with <paramref name="isolateDigits"/>,
/// so is every number character (Hugging Face's Digits pre-tokenizer with individual_digits, before the pattern).
/// </remarks>
internal sealed class CodePointPreTokenizer(Regex pattern, AddedTokenSplitter? addedTokens, bool isolateDigits = false) : PreTokenizer
{
    private const char LetterStandIn = '\u4E00';  // 一, Lo
    private const char NumberStandIn = '\u0660';  // ٠, Nd
    private const char OtherStandIn = '\u2603';   // ☃, So: neither letter, number nor space, as emoji are

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        text is null ? [] : Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    /// <summary>The pieces of <paramref name="text"/>, as offsets and lengths.</summary>
    public List<(int Offset, int Length)> Split(string text)
    {
        var pieces = new List<(int Offset, int Length)>();
        if (addedTokens is null)
        {
            AddPieces(text, 0, text.Length, pieces);
            return pieces;
        }
        foreach ((int start, int length, int? id) in addedTokens.Split(text))
        {
            if (id is null)
                AddPieces(text, start, length, pieces);
            else
                pieces.Add((start, length));
        }
        return pieces;
    }

    private void AddPieces(string text, int start, int length, List<(int Offset, int Length)> pieces)
    {
        if (!isolateDigits)
        {
            AddPatternPieces(text, start, length, pieces);
            return;
        }
        int end = start + length, run = start;
        for (int i = start; i < end;)
        {
            int width = char.IsHighSurrogate(text[i]) && i + 1 < end && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            if (IsNumber(CharUnicodeInfo.GetUnicodeCategory(width == 2 ? char.ConvertToUtf32(text[i], text[i + 1]) : text[i])))
            {
                if (i > run)
                    AddPatternPieces(text, run, i - run, pieces);
                pieces.Add((i, width));
                run = i + width;
            }
            i += width;
        }
        if (end > run)
            AddPatternPieces(text, run, end - run, pieces);
    }

    private void AddPatternPieces(string text, int start, int length, List<(int Offset, int Length)> pieces)
    {
        ReadOnlySpan<char> stretch = text.AsSpan(start, length);
        if (!HasSurrogatePair(stretch))
        {
            foreach (ValueMatch match in pattern.EnumerateMatches(stretch))
                pieces.Add((start + match.Index, match.Length));
            return;
        }
        var copy = new StringBuilder(length);
        var origin = new List<int>(length + 1);  // where each character of the copy starts in the text
        for (int i = 0; i < stretch.Length; i++)
        {
            origin.Add(start + i);
            if (char.IsHighSurrogate(stretch[i]) && i + 1 < stretch.Length && char.IsLowSurrogate(stretch[i + 1]))
            {
                copy.Append(StandIn(char.ConvertToUtf32(stretch[i], stretch[i + 1])));
                i++;
            }
            else
            {
                copy.Append(stretch[i]);
            }
        }
        origin.Add(start + length);
        foreach (ValueMatch match in pattern.EnumerateMatches(copy.ToString()))
            pieces.Add((origin[match.Index], origin[match.Index + match.Length] - origin[match.Index]));
    }

    private static bool HasSurrogatePair(ReadOnlySpan<char> text)
    {
        for (int i = text.IndexOfAnyInRange('\uD800', '\uDBFF'); i >= 0 && i + 1 < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && char.IsLowSurrogate(text[i + 1]))
                return true;
        }
        return false;
    }

    private static char StandIn(int codePoint) => CharUnicodeInfo.GetUnicodeCategory(codePoint) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => LetterStandIn,
        var category when IsNumber(category) => NumberStandIn,
        _ => OtherStandIn,
    };

    private static bool IsNumber(UnicodeCategory category) =>
        category is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}
