using System.Globalization;
using System.Text.Json;
using Tracker.Internal;

namespace Tracker;

/// <summary>
/// A table to log at a step, such as predictions next to labels: named columns and rows of
/// numbers, strings, booleans or nulls. Rows can be given at once or added one by one with
/// <see cref="AddRow"/>; each log writes the table as it is then (as W&amp;B's incremental tables
/// do), so logging it again after adding rows logs the larger table. Saved as
/// <c>media/&lt;sha256&gt;.table.json</c> (<c>{"columns":[...],"data":[[...]]}</c>) in the run.
/// </summary>
public sealed class Table : Media
{
    private readonly object _gate = new();
    private readonly MemoryStream _rows = new(); // the "data" array's rows, comma-separated
    private readonly Utf8JsonWriter _rowWriter;
    private Table? _logged; // the table as last logged, while no row has been added since
    private int _rowCount;

    /// <summary>A table of <paramref name="rows"/>, each with one value per column.</summary>
    /// <param name="columns">Column names: at least one, none empty, no two the same.</param>
    /// <param name="rows">The rows; values are numbers, strings, booleans or null (NaN and infinities allowed).</param>
    /// <exception cref="ArgumentException">A column name is invalid, a row has the wrong number of values, a value has an unsupported type, or the table is over 32 MiB.</exception>
    public Table(IReadOnlyList<string> columns, IEnumerable<IReadOnlyList<object?>> rows)
        : this(columns)
    {
        ArgumentNullException.ThrowIfNull(rows);
        foreach (var row in rows)
        {
            Append(row, nameof(rows));
        }
    }

    /// <summary>An empty table with these columns, to fill with <see cref="AddRow"/> (W&amp;B's <c>Table(columns=...)</c>).</summary>
    /// <param name="columns">Column names: at least one, none empty, no two the same.</param>
    /// <exception cref="ArgumentException">A column name is invalid.</exception>
    public Table(params string[] columns)
        : this((IReadOnlyList<string>)columns)
    {
    }

    private Table(IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0)
        {
            throw new ArgumentException("A table needs at least one column.", nameof(columns));
        }

        if (columns.FirstOrDefault(string.IsNullOrWhiteSpace) is not null || columns.Any(c => c is null))
        {
            throw new ArgumentException("Table column names must not be null, empty or whitespace.", nameof(columns));
        }

        if (columns.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
        {
            throw new ArgumentException($"Table column '{repeated.Key}' appears more than once; name each column differently.", nameof(columns));
        }

        Columns = columns.ToArray();
        _rowWriter = new Utf8JsonWriter(_rows, MediaFiles.WriterOptions);
    }

    /// <summary>The column names.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>How many rows the table has.</summary>
    public int RowCount
    {
        get
        {
            lock (_gate)
            {
                return _rowCount;
            }
        }
    }

    internal override bool HasFile => true;

    internal override string Kind => "table";

    /// <summary>Adds a row (W&amp;B's <c>add_data</c>): one value per column, in column order.</summary>
    /// <param name="values">Numbers, strings, booleans or null (NaN and infinities allowed).</param>
    /// <exception cref="ArgumentException">The row has the wrong number of values, a value has an unsupported type, or the table would be over 32 MiB; the table is then unchanged.</exception>
    public void AddRow(params object?[] values) => Append(values, nameof(values));

    private void Append(IReadOnlyList<object?> row, string paramName)
    {
        lock (_gate)
        {
            var before = _rows.Length;
            try
            {
                if (_rowCount > 0)
                {
                    _rows.WriteByte((byte)',');
                }

                WriteRow(_rowWriter, row, _rowCount, paramName);
                _rowWriter.Flush();
                _rowWriter.Reset();
                if (_rows.Length > MediaFiles.MaxBytes)
                {
                    throw new ArgumentException(
                        string.Create(CultureInfo.InvariantCulture, $"With row {_rowCount} the table is over {MediaFiles.MaxBytes:N0} bytes as JSON, the most that can be logged. Log fewer rows, or a sample of them."),
                        paramName);
                }
            }
            catch
            {
                _rowWriter.Reset();
                _rows.SetLength(before); // the row is all in or not at all
                throw;
            }

            _rowCount++;
            _logged = null;
        }
    }

    /// <summary>The table as it is now, to log: a copy that rows added later do not change.</summary>
    internal override Media ForLog()
    {
        lock (_gate)
        {
            return _logged ??= new Table(Columns, _rows.ToArray(), _rowCount);
        }
    }

    private Table(IReadOnlyList<string> columns, byte[] rows, int rowCount)
        : this(columns)
    {
        _rows.Write(rows);
        _rowCount = rowCount;
    }

    private protected override (byte[] Json, string? File) Write(string mediaDirectory)
    {
        byte[] json, rows;
        int rowCount;
        lock (_gate)
        {
            rows = _rows.ToArray();
            rowCount = _rowCount;
        }

        json = MediaFiles.Json(w =>
        {
            w.WriteStartArray("columns");
            foreach (var column in Columns)
            {
                w.WriteStringValue(column);
            }

            w.WriteEndArray();
            w.WritePropertyName("data");
            w.WriteRawValue([.. "["u8, .. rows, .. "]"u8], skipInputValidation: true);
        });
        var sha256 = MediaFiles.Write(mediaDirectory, json, MediaFiles.Extension("table"));
        return (MediaFiles.Json(w =>
        {
            w.WriteString("_type", Kind);
            w.WriteString("sha256", sha256);
            w.WriteString("path", $"{RunFiles.MediaFolder}/{sha256}{MediaFiles.Extension("table")}");
            w.WriteNumber("bytes", json.Length);
            w.WriteStartArray("columns");
            foreach (var column in Columns)
            {
                w.WriteStringValue(column);
            }

            w.WriteEndArray();
            w.WriteNumber("rows", rowCount);
        }), sha256 + MediaFiles.Extension("table"));
    }

    private void WriteRow(Utf8JsonWriter json, IReadOnlyList<object?> row, int index, string paramName)
    {
        if (row is null || row.Count != Columns.Count)
        {
            throw new ArgumentException($"Table row {index} has {row?.Count ?? 0} values; the table has {Columns.Count} columns ({string.Join(", ", Columns)}).", paramName);
        }

        json.WriteStartArray();
        for (var c = 0; c < row.Count; c++)
        {
            switch (row[c])
            {
                case null:
                    json.WriteNullValue();
                    break;
                case string text:
                    json.WriteStringValue(text);
                    break;
                case bool flag:
                    json.WriteBooleanValue(flag);
                    break;
                case var value when RecordValue.TryNormalize(value, out var number) && number is double or long or ulong:
                    RecordValue.Write(json, number);

                    break;
                case var other:
                    throw new ArgumentException(
                        $"Table row {index}, column '{Columns[c]}' holds a {other.GetType().FullName}; table values are numbers, strings, booleans or null.", paramName);
            }
        }

        json.WriteEndArray();
    }
}
