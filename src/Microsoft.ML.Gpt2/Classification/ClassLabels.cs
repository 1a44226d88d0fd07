using System.Reflection;
using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// The classes of a key-typed label column: how many there are and the values its keys stand for (the
/// <c>KeyValues</c> annotation <c>MapValueToKey</c> writes), carried over to the predicted-label column.
/// </summary>
internal sealed class ClassLabels
{
    /// <summary>The annotation kind ML.NET stores a key column's values under.</summary>
    public const string KeyValuesKind = "KeyValues";

    private readonly Array _values;

    private ClassLabels(Array values, PrimitiveDataViewType valueType)
    {
        _values = values;
        ValueType = valueType;
    }

    /// <summary>Number of classes (the key's cardinality).</summary>
    public int Count => _values.Length;

    /// <summary>The type of the values the keys stand for.</summary>
    public PrimitiveDataViewType ValueType { get; }

    /// <summary>The value class <paramref name="index"/> (zero-based) stands for, as text.</summary>
    public string Describe(int index) => _values.GetValue(index)?.ToString() ?? "";

    /// <summary>Stand-in classes of a known count and value type, for describing output schemas before fitting.</summary>
    public static ClassLabels Placeholder(int count, PrimitiveDataViewType valueType) => new(Array.CreateInstance(valueType.RawType, count), valueType);

    /// <summary>
    /// Reads the classes of <paramref name="label"/>; throws when it is not a key column with key values, or has fewer than
    /// <paramref name="minimumClasses"/> (a validation set may hold a single class).
    /// </summary>
    public static ClassLabels FromColumn(DataViewSchema.Column label, int minimumClasses = 2)
    {
        if (label.Type is not KeyDataViewType key || key.RawType != typeof(uint))
            throw new ArgumentException(
                $"Label column '{label.Name}' must be a key (UInt32) column, but is {label.Type}. " +
                $"Map it first with mlContext.Transforms.Conversion.MapValueToKey(\"{label.Name}\").");
        if (label.Annotations.Schema.GetColumnOrNull(KeyValuesKind) is not { Type: VectorDataViewType { ItemType: PrimitiveDataViewType valueType } })
            throw new ArgumentException(
                $"Label column '{label.Name}' has no key values, so predictions could not be mapped back to labels. " +
                "Create it with mlContext.Transforms.Conversion.MapValueToKey.");
        var values = (Array)Dispatch(nameof(ReadValues), valueType, label)!;
        if (values.Length != (int)key.Count)
            throw new ArgumentException($"Label column '{label.Name}' has {key.Count} keys but {values.Length} key values.");
        if (values.Length < minimumClasses)
            throw new ArgumentException(
                $"Label column '{label.Name}' has only one class ({(values.Length == 1 ? values.GetValue(0) : "none")}); a classifier needs at least two.");
        return new ClassLabels(values, valueType);
    }

    /// <summary>
    /// For each class of <paramref name="other"/> (a validation set's label, keyed by its own mapping perhaps, in
    /// another order), the index of the class here with the same value, or -1 when these classes have no such value.
    /// Keys are compared by the values they stand for, never by their numbers.
    /// </summary>
    public int[] IndicesOf(ClassLabels other, string otherName)
    {
        if (other.ValueType.RawType != ValueType.RawType)
            throw new ArgumentException(
                $"The {otherName} label's key values are {other.ValueType}, the training label's {ValueType}; " +
                "map both with the MapValueToKey transformer fitted on the training data.");
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Count; i++)
            index.TryAdd(Describe(i), i);
        return [.. Enumerable.Range(0, other.Count).Select(j => index.TryGetValue(other.Describe(j), out int i) ? i : -1)];
    }

    /// <summary>Adds the key values as the <c>KeyValues</c> annotation of a <c>CustomMapping</c> output column.</summary>
    public void AddKeyValues(SchemaDefinition.Column column) => Dispatch(nameof(AddKeyValuesToColumn), ValueType, column, ValueType, _values);

    /// <summary>Names the slots of a score column after the classes, as ML.NET's trainers do (its confusion tables show them).</summary>
    public void AddSlotNames(SchemaDefinition.Column column)
    {
        ReadOnlyMemory<char>[] names = [.. Enumerable.Range(0, Count).Select(i => Describe(i).AsMemory())];
        column.AddAnnotation("SlotNames", new VBuffer<ReadOnlyMemory<char>>(Count, names), new VectorDataViewType(TextDataViewType.Instance, Count));
    }

    /// <summary>ML.NET's value mapping from a zero-based class index (UInt32) to the label's key, with the label's key values.</summary>
    public IEstimator<ITransformer> MapIndexToKey(MLContext mlContext, string outputColumnName, string indexColumnName) =>
        (IEstimator<ITransformer>)Dispatch(nameof(MapIndexToKeyCore), ValueType, mlContext, outputColumnName, indexColumnName, _values)!;

    private static object? Dispatch(string method, PrimitiveDataViewType type, params object[] arguments) =>
        typeof(ClassLabels).GetMethod(method, BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(type.RawType).Invoke(null, arguments);

    private static T[] ReadValues<T>(DataViewSchema.Column label)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        return [.. values.DenseValues()];
    }

    private static void AddKeyValuesToColumn<T>(SchemaDefinition.Column column, PrimitiveDataViewType valueType, Array values) =>
        column.AddAnnotation(KeyValuesKind, new VBuffer<T>(values.Length, (T[])values), new VectorDataViewType(valueType, values.Length));

    private static IEstimator<ITransformer> MapIndexToKeyCore<T>(MLContext mlContext, string outputColumnName, string indexColumnName, Array values)
    {
        if (typeof(T) == typeof(ReadOnlyMemory<char>))
            return mlContext.Transforms.Conversion.MapValue(outputColumnName,
                ((ReadOnlyMemory<char>[])values).Select((value, i) => new KeyValuePair<uint, string>((uint)i, value.ToString())),
                indexColumnName, treatValuesAsKeyType: true);
        return mlContext.Transforms.Conversion.MapValue(outputColumnName,
            ((T[])values).Select((value, i) => new KeyValuePair<uint, T>((uint)i, value)), indexColumnName, treatValuesAsKeyType: true);
    }
}
