using System.Globalization;
using System.Text;
using Gpt2.Torch.Instructions;

namespace Microsoft.ML.Gpt2.Instructions;

/// <summary>
/// An <see cref="InstructionPromptFormat"/> as a lambda of ML.NET's expression language, for
/// <c>mlContext.Transforms.Expression</c>, so that a saved model formats prompts with ML.NET's own persistable
/// transformer: <c>(i, x) =&gt; concat("...", i, len(x) &gt; 0 ? concat("...", x, "...") : "", "...")</c>.
/// </summary>
internal static class PromptFormatExpression
{
    public static string Create(InstructionPromptFormat format)
    {
        int input = format.Template.IndexOf(InstructionPromptFormat.InputField, StringComparison.Ordinal);
        var parts = new List<string>();
        parts.AddRange(Fill(format.Template[..input], InstructionPromptFormat.InstructionField, "i"));
        List<string> section = Fill(format.InputSection, InstructionPromptFormat.InputField, "x");
        parts.Add($"len(x) > 0 ? {Concat(section)} : \"\"");
        parts.AddRange(Fill(format.Template[(input + InstructionPromptFormat.InputField.Length)..], InstructionPromptFormat.InstructionField, "i"));
        return $"(i, x) => {Concat(parts)}";
    }

    // The literal pieces of `text` with `variable` wherever `field` was.
    private static List<string> Fill(string text, string field, string variable)
    {
        var parts = new List<string>();
        string[] literals = text.Split(field);
        for (int k = 0; k < literals.Length; k++)
        {
            if (k > 0)
                parts.Add(variable);
            if (literals[k].Length > 0)
                parts.Add(Literal(literals[k]));
        }
        return parts;
    }

    private static string Concat(List<string> parts) => parts.Count switch
    {
        0 => "\"\"",
        1 => parts[0],
        _ => $"concat({string.Join(", ", parts)})",
    };

    // Printable ASCII as is, quotes and backslashes escaped, everything else as \uXXXX.
    private static string Literal(string text)
    {
        var literal = new StringBuilder("\"");
        foreach (char c in text)
        {
            if (c is '"' or '\\')
                literal.Append('\\').Append(c);
            else if (c is >= ' ' and <= '~')
                literal.Append(c);
            else
                literal.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
        }
        return literal.Append('"').ToString();
    }
}
