namespace Gpt2.Torch.Onnx;

/// <summary>
/// The padding semantics every family's graph shares: which keys a query may attend to, which columns of a padded batch
/// hold real tokens, and each row's last real token.
/// </summary>
internal static class OnnxPadding
{
    /// <summary>
    /// Additive attention bias [batch, 1, queries, keys] from <paramref name="real"/> (bool [batch, keys]) and the queries
    /// of <paramref name="ids"/> [batch, queries], the last keys: 0 where a query may attend (causal and unpadded key, or
    /// itself, so a padded query has one key), -inf elsewhere.
    /// </summary>
    public static string AttentionBias(OnnxGraph g, string real, string ids)
    {
        string keys = g.Node("Gather", [g.Node("Shape", [real]), g.Int64(1)]);
        string queries = g.Node("Gather", [g.Node("Shape", [ids]), g.Int64(1)]);
        string keyPositions = g.Node("Unsqueeze", [g.Node("Range", [g.Int64(0), keys, g.Int64(1)]), g.Int64s(0)]);
        string queryPositions = g.Node("Unsqueeze", [g.Node("Range", [g.Node("Sub", [keys, queries]), keys, g.Int64(1)]), g.Int64s(1)]);
        string causal = g.Node("LessOrEqual", [keyPositions, queryPositions]);
        string self = g.Node("Equal", [keyPositions, queryPositions]);
        string unpadded = g.Node("Unsqueeze", [real, g.Int64s(1, 2)]);
        string allowed = g.Node("Or", [g.Node("And", [unpadded, causal]), self]);
        return g.Node("Where", [allowed, g.Float(0), g.Float(float.NegativeInfinity)]);
    }

    /// <summary><paramref name="ids"/> and <paramref name="mask"/> without the columns after the batch's last real token, and cut to <paramref name="maxLength"/> columns when given.</summary>
    public static (string Ids, string Mask) KeepRealColumns(OnnxGraph g, string ids, string mask, int? maxLength)
    {
        string length = g.Node("Gather", [g.Node("Shape", [mask]), g.Int64(1)]);
        string columns = g.Node("Range", [g.Int64(1), g.Node("Add", [length, g.Int64(1)]), g.Int64(1)]);
        string end = g.Node("ReduceMax", [g.Node("Mul", [g.Node("Cast", [g.Node("Cast", [mask], To(OnnxDataType.Bool))], To(OnnxDataType.Int64)), columns])],
            OnnxAttribute.Int("keepdims", 0));
        if (maxLength is int max)
            end = g.Node("Min", [end, g.Int64(max)]);
        string ends = g.Node("Reshape", [end, g.Int64s(1)]);
        return (g.Node("Slice", [ids, g.Int64s(0), ends, g.Int64s(1)]), g.Node("Slice", [mask, g.Int64s(0), ends, g.Int64s(1)]));
    }

    /// <summary>The hidden state [batch, width] at each row's last position whose <paramref name="keep"/> (int64 0/1) is 1 (right or left padding).</summary>
    public static string LastRealToken(OnnxGraph g, string hidden, string keep)
    {
        string length = g.Node("Gather", [g.Node("Shape", [keep]), g.Int64(1)]);
        string realPositions = g.Node("Mul", [keep, g.Node("Range", [g.Int64(0), length, g.Int64(1)])]);
        string last = g.Node("ReduceMax", [realPositions, g.Int64s(1)], OnnxAttribute.Int("keepdims", 1));
        return g.Node("GatherND", [hidden, last], OnnxAttribute.Int("batch_dims", 1));
    }

    /// <summary>The <c>to</c> attribute of a Cast.</summary>
    public static OnnxAttribute To(OnnxDataType type) => OnnxAttribute.Int("to", (int)type);
}
