using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Data;

/// <summary>
/// A column a <see cref="BatchMappedDataView{TOutput}"/> adds: its name, type and annotations, and how a row's value is
/// read from that row's output. Create one with <see cref="AddedColumn{TOutput, TValue}"/>.
/// </summary>
/// <typeparam name="TOutput">What the batch function returns for each row.</typeparam>
internal abstract class AddedColumn<TOutput>
{
    private protected AddedColumn(string name, DataViewType type, DataViewSchema.Annotations? annotations)
    {
        Name = name;
        Type = type;
        Annotations = annotations;
    }

    /// <summary>The column's name (it hides an input column of the same name).</summary>
    public string Name { get; }

    /// <summary>The column's ML.NET type.</summary>
    public DataViewType Type { get; }

    /// <summary>The column's annotations (slot names, key values), or null for none.</summary>
    public DataViewSchema.Annotations? Annotations { get; }

    /// <summary>A getter of type <c>ValueGetter&lt;TValue&gt;</c> that reads the value from the output <paramref name="current"/> returns.</summary>
    public abstract Delegate CreateGetter(Func<TOutput> current);

    /// <summary>The .NET type of the column's values, as a getter gives them.</summary>
    public abstract Type ValueType { get; }
}

/// <summary>An added column whose values are of type <typeparamref name="TValue"/>.</summary>
/// <typeparam name="TOutput">What the batch function returns for each row.</typeparam>
/// <typeparam name="TValue">The value a getter gives (for example <c>ReadOnlyMemory&lt;char&gt;</c>, <c>uint</c> for a key, <c>VBuffer&lt;float&gt;</c>).</typeparam>
internal sealed class AddedColumn<TOutput, TValue> : AddedColumn<TOutput>
{
    /// <summary>
    /// Writes a row's value into <paramref name="value"/>. A vector's reader copies into the caller's buffer (as ML.NET's own
    /// getters do), never hands out the output's array, so a caller that reuses the buffer cannot overwrite a stored output.
    /// </summary>
    public delegate void Reader(TOutput output, ref TValue value);

    private readonly Reader _read;

    /// <param name="name">The column's name.</param>
    /// <param name="type">The column's ML.NET type; its raw type must be <typeparamref name="TValue"/>.</param>
    /// <param name="read">Writes a row's value from its output.</param>
    /// <param name="annotations">The column's annotations, or null.</param>
    public AddedColumn(string name, DataViewType type, Reader read, DataViewSchema.Annotations? annotations = null)
        : base(name, type, annotations)
    {
        if (type.RawType != typeof(TValue))
            throw new ArgumentException($"Column '{name}' is of type {type} (raw type {type.RawType.Name}), but its reader writes {typeof(TValue).Name}.", nameof(type));
        _read = read;
    }

    /// <inheritdoc />
    public override Type ValueType => typeof(TValue);

    /// <inheritdoc />
    public override Delegate CreateGetter(Func<TOutput> current)
    {
        ValueGetter<TValue> getter = (ref TValue value) => _read(current(), ref value);
        return getter;
    }
}

/// <summary>
/// The input data with columns added that are computed lazily and a batch of rows at a time: a second cursor over the
/// input reads the next <c>batchSize</c> rows' source text columns ahead of the row being served, one call of the batch
/// function maps them all, and the rows are then served from its outputs, while every other column passes through
/// untouched. The added columns are computed only for cursors that ask for one of them. The text generators (one text
/// column added) and the classifier (score and predicted label) both score through it.
/// </summary>
/// <typeparam name="TOutput">What the batch function returns for each row.</typeparam>
internal class BatchMappedDataView<TOutput> : IDataView
{
    private readonly IDataView _input;
    private readonly DataViewSchema.Column[] _sourceColumns;
    private readonly AddedColumn<TOutput>[] _addedColumns;
    private readonly Func<IReadOnlyList<string?[]>, IReadOnlyList<TOutput>> _map;
    private readonly int _batchSize;

    /// <param name="input">The data.</param>
    /// <param name="sourceColumnNames">The text columns each row's output is computed from.</param>
    /// <param name="addedColumns">The columns added, in order, after the input's.</param>
    /// <param name="map">The outputs of a batch of rows, one per row in order, given their source columns' values.</param>
    /// <param name="batchSize">Rows per call of <paramref name="map"/>.</param>
    public BatchMappedDataView(IDataView input, IReadOnlyList<string> sourceColumnNames, IReadOnlyList<AddedColumn<TOutput>> addedColumns,
        Func<IReadOnlyList<string?[]>, IReadOnlyList<TOutput>> map, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _input = input;
        _sourceColumns = [.. sourceColumnNames.Select(name => input.Schema.GetColumnOrNull(name) is { Type: TextDataViewType } column ? column
            : throw new ArgumentException($"The input has no text column named '{name}' to compute the added columns from.", nameof(sourceColumnNames)))];
        _addedColumns = [.. addedColumns];
        _map = map;
        _batchSize = batchSize;
        var schema = new DataViewSchema.Builder();
        schema.AddColumns(input.Schema);
        foreach (AddedColumn<TOutput> column in _addedColumns)
            schema.AddColumn(column.Name, column.Type, column.Annotations);
        Schema = schema.ToSchema();
    }

    /// <inheritdoc />
    public DataViewSchema Schema { get; }

    /// <inheritdoc />
    public bool CanShuffle => false;

    /// <inheritdoc />
    public long? GetRowCount() => _input.GetRowCount();

    /// <inheritdoc />
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        bool outputNeeded = needed.Any(column => IsAdded(column.Index));
        return new Cursor(this, needed.Where(column => !IsAdded(column.Index)).Select(column => _input.Schema[column.Index]), outputNeeded);
    }

    /// <inheritdoc />
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private bool IsAdded(int index) => index >= _input.Schema.Count;

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchMappedDataView<TOutput> _view;
        private readonly DataViewRowCursor _rows;
        private readonly DataViewRowCursor? _ahead;
        private readonly ValueGetter<ReadOnlyMemory<char>>[] _sourceGetters = [];
        private readonly Queue<TOutput> _outputs = new();
        private TOutput? _current;

        public Cursor(BatchMappedDataView<TOutput> view, IEnumerable<DataViewSchema.Column> inputColumns, bool outputNeeded)
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
            _view.IsAdded(column.Index) ? _ahead is not null : _rows.IsColumnActive(_view._input.Schema[column.Index]);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_view.IsAdded(column.Index))
                return _rows.GetGetter<TValue>(_view._input.Schema[column.Index]);
            if (_ahead is null)
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            AddedColumn<TOutput> added = _view._addedColumns[column.Index - _view._input.Schema.Count];
            if (typeof(TValue) != added.ValueType)
                throw new InvalidOperationException($"Column '{column.Name}' holds {added.ValueType.Name} values ({added.Type}), not {typeof(TValue).Name}.");
            return (ValueGetter<TValue>)added.CreateGetter(Current);
        }

        public override bool MoveNext()
        {
            if (!_rows.MoveNext())
                return false;
            if (_ahead is not null)
            {
                if (_outputs.Count == 0)
                    MapNextBatch();
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

        private TOutput Current() => Position >= 0 ? _current! : throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");

        private void MapNextBatch()
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
                throw new InvalidOperationException("The input data gave fewer rows on a second pass than on the first; batched scoring needs data that reads the same each time.");
            IReadOnlyList<TOutput> outputs = _view._map(batch);
            if (outputs.Count != batch.Count)
                throw new InvalidOperationException($"The batch function returned {outputs.Count} outputs for {batch.Count} rows.");
            foreach (TOutput output in outputs)
                _outputs.Enqueue(output);
        }
    }
}
