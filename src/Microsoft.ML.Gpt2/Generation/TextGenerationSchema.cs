using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>The output schema shape of the generating estimators, with their checks of the source columns.</summary>
internal static class TextGenerationSchema
{
    public static SchemaShape Check(MLContext mlContext, SchemaShape inputSchema, string[] sourceColumnNames, string outputColumnName)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        foreach (string name in sourceColumnNames)
        {
            SchemaShape.Column column = inputSchema.FirstOrDefault(c => c.Name == name);
            if (column.Name is null)
                throw new ArgumentException($"The input has no text column named '{name}'; set the column name to one of the data's columns.");
            if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
                throw new ArgumentException($"Column '{name}' must hold a string (TextDataViewType), but holds {column.Kind} of {column.ItemType}.");
        }
        // SchemaShape columns cannot be built outside ML.NET, so the in-memory mapping's estimator describes them.
        return TextGenerationMapper.Mapping(mlContext, sourceColumnNames, outputColumnName,
            (_, _) => throw new InvalidOperationException("Fit the estimator first."), out _).GetOutputSchema(inputSchema);
    }
}
