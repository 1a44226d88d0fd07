namespace SpamClassification;

/// <summary>What the pipelines add to a message.</summary>
internal sealed class SpamPrediction
{
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
