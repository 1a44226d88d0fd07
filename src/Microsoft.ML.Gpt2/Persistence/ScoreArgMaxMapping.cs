using System.ComponentModel;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="ScoreArgMaxMapping"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ScoreArgMaxInput
{
    /// <summary>Class probabilities.</summary>
    [ColumnName(ScoreArgMaxMapping.ProbabilitiesColumnName)]
    public float[] Probabilities { get; set; } = [];
}

/// <summary>The output row of <see cref="ScoreArgMaxMapping"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ScoreArgMaxOutput
{
    /// <summary>Zero-based index of the most probable class.</summary>
    [ColumnName(ScoreArgMaxMapping.PredictedIndexColumnName)]
    public uint PredictedIndex { get; set; }
}

/// <summary>
/// The most probable class's index, as a persistable ML.NET <c>CustomMapping</c> in the saved form of the classifier;
/// ML.NET's value mapping then turns it into the label's key.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ScoreArgMaxMapping : CustomMappingFactory<ScoreArgMaxInput, ScoreArgMaxOutput>
{
    /// <summary>The contract name saved in model zips.</summary>
    public const string ContractName = "Gpt2MLNet.ScoreArgMax.v1";

    /// <summary>The input column, named after the ONNX graph's output.</summary>
    public const string ProbabilitiesColumnName = "probabilities";

    /// <summary>The output column.</summary>
    public const string PredictedIndexColumnName = "Gpt2.PredictedIndex";

    /// <inheritdoc />
    public override Action<ScoreArgMaxInput, ScoreArgMaxOutput> GetMapping() => Map;

    private static void Map(ScoreArgMaxInput input, ScoreArgMaxOutput output)
    {
        if (input.Probabilities.Length == 0)
            throw new InvalidOperationException($"Column '{ProbabilitiesColumnName}' is empty; it must hold one probability per class.");
        int best = 0;
        for (int i = 1; i < input.Probabilities.Length; i++)
            if (input.Probabilities[i] > input.Probabilities[best])
                best = i;
        output.PredictedIndex = (uint)best;
    }
}
