using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Data;

/// <summary>
/// The input data with one generated text column added, a batch of rows at a time (see <see cref="BatchMappedDataView{TOutput}"/>):
/// the next <c>batchSize</c> rows' prompts are read ahead and generated together, while every other column passes through.
/// </summary>
internal sealed class GeneratedTextDataView : BatchMappedDataView<string>
{
    /// <param name="input">The data.</param>
    /// <param name="sourceColumnNames">The text columns each row's output is computed from.</param>
    /// <param name="outputColumnName">The text column added (it hides an input column of the same name).</param>
    /// <param name="generate">The outputs of a batch of rows, given their source columns' values.</param>
    /// <param name="batchSize">Rows per call of <paramref name="generate"/>.</param>
    public GeneratedTextDataView(IDataView input, IReadOnlyList<string> sourceColumnNames, string outputColumnName,
        Func<IReadOnlyList<string?[]>, string[]> generate, int batchSize)
        : base(input, sourceColumnNames,
            [new AddedColumn<string, ReadOnlyMemory<char>>(outputColumnName, TextDataViewType.Instance, (string text, ref ReadOnlyMemory<char> value) => value = text.AsMemory())],
            generate, batchSize)
    {
    }
}
