using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gpt2.Torch.Instructions;

/// <summary>One row of instruction data (the Alpaca layout of the book's <c>instruction-data.json</c>).</summary>
/// <param name="Instruction">What the model is asked to do.</param>
/// <param name="Input">Context for the instruction; empty when there is none.</param>
/// <param name="Output">The reference response.</param>
public sealed record InstructionExample(
    [property: JsonPropertyName("instruction")] string Instruction,
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("output")] string Output)
{
    /// <summary>Reads a JSON array of <c>{"instruction", "input", "output"}</c> objects, in file order.</summary>
    public static IReadOnlyList<InstructionExample> LoadJson(string path)
    {
        using FileStream stream = File.OpenRead(path);
        InstructionExample[] rows = JsonSerializer.Deserialize<InstructionExample[]>(stream)
            ?? throw new InvalidDataException($"{path} holds no JSON array of instruction rows.");
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is null || rows[i].Instruction is null || rows[i].Output is null)
                throw new InvalidDataException($"Row {i} of {path} lacks an \"instruction\" or an \"output\" string.");
        }
        return [.. rows.Select(row => row.Input is null ? row with { Input = "" } : row)];
    }
}
