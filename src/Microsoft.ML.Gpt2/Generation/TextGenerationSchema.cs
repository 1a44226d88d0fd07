using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>The output schema shape of the generating estimators, with their checks of the source columns.</summary>
internal static class TextGenerationSchema
{
    /// <param name="mlContext">The context to build the describing estimator in.</param>
    /// <param name="inputSchema">The input's shape.</param>
    /// <param name="sourceColumnNames">The text columns a row's output is made of.</param>
    /// <param name="outputColumnName">The text column added.</param>
    /// <param name="otherTextColumnNames">Further text columns the estimator needs (a tuner's reference responses).</param>
    public static SchemaShape Check(MLContext mlContext, SchemaShape inputSchema, string[] sourceColumnNames, string outputColumnName,
        params string[] otherTextColumnNames)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        foreach (string name in sourceColumnNames.Concat(otherTextColumnNames))
            InputColumns.RequireText(inputSchema, name);
        // SchemaShape columns cannot be built outside ML.NET, so the in-memory mapping's estimator describes them.
        return TextGenerationMapper.Mapping(mlContext, sourceColumnNames, outputColumnName,
            (_, _) => throw new InvalidOperationException("Fit the estimator first."), out _).GetOutputSchema(inputSchema);
    }
}
