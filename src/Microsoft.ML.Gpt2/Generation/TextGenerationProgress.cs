namespace Microsoft.ML.Gpt2.Generation;

/// <summary>How far generation over a data view has come, reported after each batch of rows.</summary>
/// <param name="RowsCompleted">Rows generated so far.</param>
/// <param name="TokensGenerated">Tokens generated so far, over all rows.</param>
/// <param name="Elapsed">Time spent generating.</param>
public sealed record TextGenerationProgress(long RowsCompleted, long TokensGenerated, TimeSpan Elapsed)
{
    /// <summary>Generated tokens per second.</summary>
    public double TokensPerSecond => Elapsed > TimeSpan.Zero ? TokensGenerated / Elapsed.TotalSeconds : 0;
}
