using System.Globalization;
using System.Text.Json;
using Tracker.Internal;

namespace Tracker;

/// <summary>
/// A table to log at a step, such as predictions next to labels: named columns and rows of
/// numbers, strings, booleans or nulls. Captured when it is made; saved as
/// <c>media/&lt;sha256&gt;.table.json</c> (<c>{"columns":[...],"data":[[...]]}</c>) in the run.
/// </summary>
public sealed class Table : Media
{
    private readonly byte[] _json;

    /// <summary>A table of <paramref name="rows"/>, each with one value per column.</summary>
    /// <param name="columns">Column names: at least one, none empty, no two the same.</param>
    /// <param name="rows">The rows; values are numbers, strings, booleans or null (NaN and infinities allowed).</param>
    /// <exception cref="ArgumentException">A column name is invalid, a row has the wrong number of values, a value has an unsupported type, or the table is over 32 MiB.</exception>
    public Table(IReadOnlyList<string> columns, IEnumerable<IReadOnlyList<object?>> rows)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(rows);
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
        _json = MediaFiles.Json(json =>
        {
            json.WriteStartArray("columns");
            foreach (var column in Columns)
            {
                json.WriteStringValue(column);
            }

            json.WriteEndArray();
            json.WriteStartArray("data");
            foreach (var row in rows)
            {
                WriteRow(json, row, RowCount++);
            }

            json.WriteEndArray();
        });
        if (_json.Length > MediaFiles.MaxBytes)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The table is {_json.Length:N0} bytes as JSON; at most {MediaFiles.MaxBytes:N0} can be logged. Log fewer rows, or a sample of them."),
                nameof(rows));
        }
    }

    /// <summary>The column names.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>How many rows the table has.</summary>
    public int RowCount { get; private set; }

    internal override bool HasFile => true;

    internal override string Kind => "table";

    private protected override (byte[] Json, string? File) Write(string mediaDirectory)
    {
        var sha256 = MediaFiles.Write(mediaDirectory, _json, MediaFiles.Extension("table"));
        return (MediaFiles.Json(json =>
        {
            json.WriteString("_type", Kind);
            json.WriteString("sha256", sha256);
            json.WriteString("path", $"{RunFiles.MediaFolder}/{sha256}{MediaFiles.Extension("table")}");
            json.WriteNumber("bytes", _json.Length);
            json.WriteStartArray("columns");
            foreach (var column in Columns)
            {
                json.WriteStringValue(column);
            }

            json.WriteEndArray();
            json.WriteNumber("rows", RowCount);
        }), sha256 + MediaFiles.Extension("table"));
    }

    private void WriteRow(Utf8JsonWriter json, IReadOnlyList<object?> row, int index)
    {
        if (row is null || row.Count != Columns.Count)
        {
            throw new ArgumentException($"Table row {index} has {row?.Count ?? 0} values; the table has {Columns.Count} columns ({string.Join(", ", Columns)}).", "rows");
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
                        $"Table row {index}, column '{Columns[c]}' holds a {other.GetType().FullName}; table values are numbers, strings, booleans or null.", "rows");
            }
        }

        json.WriteEndArray();
    }
}
