using Gpt2.Torch.Downloads;
using Gpt2MLNet.Samples;

namespace SpamClassification;

/// <summary>Finds the SMS Spam Collection: downloaded from UCI (cached), or the repository's copy when offline.</summary>
internal static class SmsData
{
    public static async Task<string> LocateAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await PublicDatasets.SmsSpamCollectionAsync(progress: new ConsoleDownloadProgress(), cancellationToken: cancellationToken);
        }
        catch (DownloadException e)
        {
            string? local = RepositoryCopy();
            if (local is null)
                throw;
            Console.WriteLine($"Could not download the SMS Spam Collection ({e.Message.Split(". ")[0]}); using the repository's copy.");
            return local;
        }
    }

    // data/SMSSpamCollection in the current folder or in a folder above the program.
    private static string? RepositoryCopy()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (DirectoryInfo? folder = new(start); folder is not null; folder = folder.Parent)
            {
                string candidate = Path.Combine(folder.FullName, "data", "SMSSpamCollection");
                if (File.Exists(candidate))
                    return candidate;
            }
        return null;
    }
}
