using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2;

/// <summary>The input-column checks every component here makes, before fitting (schema shapes) and on data (schemas).</summary>
internal static class InputColumns
{
    /// <summary>Throws unless <paramref name="schema"/> has a text column <paramref name="name"/>.</summary>
    public static void RequireText(DataViewSchema schema, string name)
    {
        DataViewSchema.Column column = schema.GetColumnOrNull(name) ?? throw Missing(name, "text");
        if (column.Type is not TextDataViewType)
            throw new ArgumentException($"Text column '{name}' must hold a string (TextDataViewType), but holds {column.Type}.");
    }

    /// <summary>Throws unless <paramref name="schema"/> has a scalar text column <paramref name="name"/>.</summary>
    public static void RequireText(SchemaShape schema, string name)
    {
        SchemaShape.Column column = Find(schema, name, "text");
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw new ArgumentException($"Text column '{name}' must hold a string (TextDataViewType), but holds {Describe(column)}.");
    }

    /// <summary>The column <paramref name="name"/> of <paramref name="schema"/>; <paramref name="role"/> names it in the error.</summary>
    public static SchemaShape.Column Find(SchemaShape schema, string name, string role)
    {
        SchemaShape.Column column = schema.FirstOrDefault(c => c.Name == name);
        return column.Name is null ? throw Missing(name, role) : column;
    }

    public static string Describe(SchemaShape.Column column) => $"{column.Kind} of {column.ItemType}";

    public static ArgumentException Missing(string name, string role) =>
        new($"The input has no {role} column named '{name}'; set the {role} column name to one of the data's columns.");
}
