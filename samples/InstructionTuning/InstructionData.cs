using Gpt2.Torch.Downloads;
using Gpt2.Torch.Instructions;
using Gpt2MLNet.Samples;

namespace InstructionTuning;

/// <summary>One row as ML.NET reads it, and as the result file writes it (with the model's response).</summary>
public sealed class InstructionRow
{
    public string Instruction { get; set; } = "";
    public string Input { get; set; } = "";
    public string Output { get; set; } = "";
    public string Response { get; set; } = "";
}

/// <summary>The book's instruction data: downloaded (cached) or the repository's copy, split 85/10/5 in file order.</summary>
internal static class InstructionData
{
    public static async Task<string> LocateAsync(string? path, CancellationToken cancellationToken)
    {
        if (path is not null)
            return File.Exists(path) ? path : throw new FileNotFoundException($"--data {path} does not exist.", path);
        try
        {
            return await PublicDatasets.InstructionDataAsync(progress: new ConsoleDownloadProgress(), cancellationToken: cancellationToken);
        }
        catch (DownloadException e)
        {
            string? local = RepositoryCopy();
            if (local is null)
                throw;
            Console.WriteLine($"Could not download the instruction data ({e.Message.Split(". ")[0]}); using the repository's copy.");
            return local;
        }
    }

    /// <summary>The book's split: the first 85% to train, the next 10% to test, the rest to validate.</summary>
    public static (InstructionRow[] Train, InstructionRow[] Validation, InstructionRow[] Test) Split(string path)
    {
        InstructionRow[] rows = [.. InstructionExample.LoadJson(path).Select(e => new InstructionRow { Instruction = e.Instruction, Input = e.Input, Output = e.Output })];
        int train = (int)(rows.Length * 0.85), test = (int)(rows.Length * 0.1);
        return (rows[..train], rows[(train + test)..], rows[train..(train + test)]);
    }

    private static string? RepositoryCopy()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (DirectoryInfo? folder = new(start); folder is not null; folder = folder.Parent)
            {
                string candidate = Path.Combine(folder.FullName, "data", "instruction-data.json");
                if (File.Exists(candidate))
                    return candidate;
            }
        return null;
    }
}
