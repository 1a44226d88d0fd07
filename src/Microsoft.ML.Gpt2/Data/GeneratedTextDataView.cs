using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Data;

/// <summary>
/// The input data with one text column added, computed lazily and a batch of rows at a time: a second cursor over the
/// input reads the next <c>batchSize</c> rows' text columns ahead of the row being served, so generation runs batched
/// while every other column passes through untouched.
/// </summary>
internal sealed class GeneratedTextDataView : IDataView
{
    private readonly IDataView _input;
    private readonly DataViewSchema.Column[] _sourceColumns;
    private readonly Func<IReadOnlyList<string?[]>, string[]> _generate;
    private readonly int _batchSize;

    /// <param name="input">The data.</param>
    /// <param name="sourceColumnNames">The text columns each row's output is computed from.</param>
    /// <param name="outputColumnName">The text column added (it hides an input column of the same name).</param>
    /// <param name="generate">The outputs of a batch of rows, given their source columns' values.</param>
    /// <param name="batchSize">Rows per call of <paramref name="generate"/>.</param>
    public GeneratedTextDataView(IDataView input, IReadOnlyList<string> sourceColumnNames, string outputColumnName,
        Func<IReadOnlyList<string?[]>, string[]> generate, int batchSize)
    {
        _input = input;
        _sourceColumns = [.. sourceColumnNames.Select(name => input.Schema[name])];
        _generate = generate;
        _batchSize = batchSize;
        var schema = new DataViewSchema.Builder();
        schema.AddColumns(input.Schema);
        schema.AddColumn(outputColumnName, TextDataViewType.Instance);
        Schema = schema.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        bool outputNeeded = needed.Any(column => column.Index == OutputIndex);
        return new Cursor(this, needed.Where(column => column.Index != OutputIndex).Select(column => _input.Schema[column.Index]), outputNeeded);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private int OutputIndex => _input.Schema.Count;

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly GeneratedTextDataView _view;
        private readonly DataViewRowCursor _rows;
        private readonly DataViewRowCursor? _ahead;
        private readonly ValueGetter<ReadOnlyMemory<char>>[] _sourceGetters = [];
        private readonly Queue<string> _outputs = new();
        private string _current = "";

        public Cursor(GeneratedTextDataView view, IEnumerable<DataViewSchema.Column> inputColumns, bool outputNeeded)
        {
            _view = view;
            _rows = view._input.GetRowCursor(inputColumns);
            if (outputNeeded)
            {
                _ahead = view._input.GetRowCursor(view._sourceColumns);
                _sourceGetters = [.. view._sourceColumns.Select(_ahead.GetGetter<ReadOnlyMemory<char>>)];
            }
        }

        public override DataViewSchema Schema => _view.Schema;

        public override long Position => _rows.Position;

        public override long Batch => _rows.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _rows.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index == _view.OutputIndex ? _ahead is not null : _rows.IsColumnActive(_view._input.Schema[column.Index]);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index != _view.OutputIndex)
                return _rows.GetGetter<TValue>(_view._input.Schema[column.Index]);
            if (_ahead is null)
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>))
                throw new InvalidOperationException($"Column '{column.Name}' holds text (ReadOnlyMemory<char>), not {typeof(TValue).Name}.");
            ValueGetter<ReadOnlyMemory<char>> getter = (ref ReadOnlyMemory<char> value) => value = _current.AsMemory();
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        public override bool MoveNext()
        {
            if (!_rows.MoveNext())
                return false;
            if (_ahead is not null)
            {
                if (_outputs.Count == 0)
                    GenerateNextBatch();
                _current = _outputs.Dequeue();
            }
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _rows.Dispose();
                _ahead?.Dispose();
            }
            base.Dispose(disposing);
        }

        private void GenerateNextBatch()
        {
            var batch = new List<string?[]>(_view._batchSize);
            ReadOnlyMemory<char> value = default;
            while (batch.Count < _view._batchSize && _ahead!.MoveNext())
            {
                var row = new string?[_sourceGetters.Length];
                for (int i = 0; i < row.Length; i++)
                {
                    _sourceGetters[i](ref value);
                    row[i] = value.ToString();
                }
                batch.Add(row);
            }
            if (batch.Count == 0)
                throw new InvalidOperationException("The input data gave fewer rows on a second pass than on the first; generation needs data that reads the same each time.");
            foreach (string output in _view._generate(batch))
                _outputs.Enqueue(output);
        }
    }
}
