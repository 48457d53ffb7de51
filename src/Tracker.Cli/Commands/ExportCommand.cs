using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using Tracker.Reading;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker export RUN --format csv|jsonl|parquet</c>: the full history, one row per step and one
/// column per metric, with the step, the time (Unix milliseconds) and the runtime in seconds first.
/// Values keep their type: doubles shortest-exact with a fraction (NaN and infinities as NaN / Infinity /
/// -Infinity), integers exact, booleans as booleans, text as text.
/// </summary>
internal static class ExportCommand
{
    private const int RowGroupRows = 100_000;

    public static Command Create()
    {
        var run = new Argument<string>("RUN") { Description = "A run id (looked up under --dir, or on --server) or a run directory." };
        var format = new Option<string>("--format") { Description = "csv, jsonl or parquet.", Required = true };
        format.AcceptOnlyFromAmong("csv", "jsonl", "parquet");
        var output = new Option<string?>("--output", "-o") { Description = "The file to write (default: standard output; RUN-ID.parquet for parquet)." };
        var dir = new Option<string>("--dir") { Description = "Runs root (default: TRACKER_DIR, then tracker.json, then ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var server = new ServerRunOptions();
        var command = new Command("export", "Export a run's full history as CSV, JSON lines or Parquet.") { run, format, output, dir };
        server.AddTo(command);
        command.SetAction(async (r, ct) =>
        {
            using var reader = server.Open(r, r.GetValue(run)!, r.GetValue(dir)!);
            var kind = r.GetValue(format)!;
            var path = r.GetValue(output) ?? (kind == "parquet" ? $"{reader.Info.Id}.parquet" : null);
            await using var stream = path is null ? Console.OpenStandardOutput() : File.Create(path);
            var keys = Columns(reader);
            await (kind switch
            {
                "csv" => WriteCsvAsync(reader, keys, stream),
                "jsonl" => WriteJsonLinesAsync(reader, keys, stream),
                _ => WriteParquetAsync(reader, keys, stream, ct),
            });
            if (path is not null)
            {
                await Console.Error.WriteLineAsync($"Wrote {Path.GetFullPath(path)}.");
            }

            return CliExit.Success;
        });
        return command;
    }

    /// <summary>The export's own columns, first in every format.</summary>
    private static readonly string[] RowColumns = ["step", "timestamp_ms", "runtime_s"];

    /// <summary>What a column holds, so each format writes it with its own type.</summary>
    private enum ColumnKind
    {
        Double,
        Int64,
        UInt64,
        Bool,
        Text,
    }

    /// <summary>A metric's column: its key, its name in the export, and the type all its values share.</summary>
    private sealed record Column(string Key, string Name, ColumnKind Kind);

    /// <summary>
    /// Every key of the history with the type its values share: doubles (integers mixed in become doubles),
    /// integers, booleans, or text when they differ otherwise. A key named like one of the export's own
    /// columns is renamed <c>metric/KEY</c> (again until unique), so no two columns share a name.
    /// </summary>
    private static List<Column> Columns(RunSource reader)
    {
        var kinds = new SortedDictionary<string, ColumnKind?>(StringComparer.Ordinal);
        foreach (var row in reader.ReadHistory())
        {
            foreach (var (key, value) in row.Values)
            {
                var kind = value switch
                {
                    double => ColumnKind.Double,
                    long => ColumnKind.Int64,
                    ulong => ColumnKind.UInt64,
                    bool => ColumnKind.Bool,
                    _ => ColumnKind.Text,
                };
                kinds[key] = kinds.TryGetValue(key, out var before) && before is { } known ? Merge(known, kind) : kind;
            }
        }

        var used = new HashSet<string>(RowColumns, StringComparer.Ordinal);
        var columns = new List<Column>(kinds.Count);
        foreach (var key in kinds.Keys)
        {
            var name = key;
            while (used.Contains(name) || (name != key && kinds.ContainsKey(name)))
            {
                name = "metric/" + name;
            }

            used.Add(name);
            columns.Add(new Column(key, name, kinds[key] ?? ColumnKind.Text));
        }

        return columns;
    }

    private static ColumnKind Merge(ColumnKind a, ColumnKind b) => (a, b) switch
    {
        _ when a == b => a,
        (ColumnKind.Double, ColumnKind.Int64 or ColumnKind.UInt64) or (ColumnKind.Int64 or ColumnKind.UInt64, ColumnKind.Double) => ColumnKind.Double,
        (ColumnKind.Int64, ColumnKind.UInt64) or (ColumnKind.UInt64, ColumnKind.Int64) => ColumnKind.Double,
        _ => ColumnKind.Text,
    };

    /// <summary>A value as CSV text: numbers as the format writes them (doubles with a fraction), text quoted when it would read as a number.</summary>
    private static string CsvValue(object value, ColumnKind kind) => value switch
    {
        double d => Encoding.ASCII.GetString(FormattedDouble(d)),
        bool b => b ? "true" : "false",
        long or ulong when kind == ColumnKind.Double => Encoding.ASCII.GetString(FormattedDouble(RecordValue.AsDouble(value)!.Value)),
        long or ulong => RecordValue.Display(value),
        _ => Quote(RecordValue.Display(value), always: kind == ColumnKind.Text && RecordValue.IsSpecialText(RecordValue.Display(value))),
    };

    private static byte[] FormattedDouble(double value)
    {
        Span<byte> text = stackalloc byte[32];
        return text[..RecordValue.FormatDouble(value, text)].ToArray();
    }

    private static async Task WriteCsvAsync(RunSource reader, List<Column> columns, Stream stream)
    {
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16);
        await writer.WriteLineAsync(string.Join(',', RowColumns.Concat(columns.Select(c => c.Name)).Select(n => Quote(n))));
        var line = new StringBuilder();
        foreach (var row in reader.ReadHistory())
        {
            line.Clear().Append(row.Step.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Timestamp.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Runtime.TotalSeconds.ToString("R", CultureInfo.InvariantCulture));
            foreach (var column in columns)
            {
                line.Append(',');
                if (row.Values.TryGetValue(column.Key, out var value) && value is not null)
                {
                    line.Append(CsvValue(value, column.Kind));
                }
            }

            await writer.WriteLineAsync(line);
        }
    }

    private static string Quote(string text, bool always = false) =>
        always || text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : text;

    /// <summary>One JSON object per row; values by the run format's value codec (docs/format.md), so text "NaN" stays text.</summary>
    private static async Task WriteJsonLinesAsync(RunSource reader, List<Column> columns, Stream stream)
    {
        await using var buffered = new BufferedStream(stream, 1 << 16);
        await using var json = new Utf8JsonWriter(buffered, RecordValue.WriterOptions);
        foreach (var row in reader.ReadHistory())
        {
            json.Reset(buffered);
            json.WriteStartObject();
            json.WriteNumber("step", row.Step);
            json.WriteNumber("timestamp_ms", row.Timestamp.ToUnixTimeMilliseconds());
            json.WriteNumber("runtime_s", row.Runtime.TotalSeconds);
            foreach (var column in columns)
            {
                if (row.Values.TryGetValue(column.Key, out var value))
                {
                    json.WritePropertyName(column.Name);
                    RecordValue.Write(json, column.Kind == ColumnKind.Double && value is long or ulong ? RecordValue.AsDouble(value) : value);
                }
            }

            json.WriteEndObject();
            await json.FlushAsync();
            buffered.WriteByte((byte)'\n');
        }
    }

    /// <summary>
    /// Columns step, timestamp_ms, runtime_s, then one nullable column per key typed as its values are
    /// (double, int64, uint64, boolean or string), in row groups of <see cref="RowGroupRows"/>.
    /// </summary>
    private static async Task WriteParquetAsync(RunSource reader, List<Column> columns, Stream stream, CancellationToken cancellationToken)
    {
        var stepField = new DataField<long>("step");
        var timeField = new DataField<long>("timestamp_ms");
        var runtimeField = new DataField<double>("runtime_s");
        var fields = columns.Select(c => c.Kind switch
        {
            ColumnKind.Double => (DataField)new DataField<double?>(c.Name),
            ColumnKind.Int64 => new DataField<long?>(c.Name),
            ColumnKind.UInt64 => new DataField<ulong?>(c.Name),
            ColumnKind.Bool => new DataField<bool?>(c.Name),
            _ => new DataField<string?>(c.Name),
        }).ToList();
        var schema = new ParquetSchema([stepField, timeField, runtimeField, .. fields]);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        var rows = new List<HistoryRow>(RowGroupRows);
        async Task FlushAsync()
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(stepField, rows.Select(r => r.Step).ToArray(), cancellationToken: cancellationToken);
            await group.WriteAsync<long>(timeField, rows.Select(r => r.Timestamp.ToUnixTimeMilliseconds()).ToArray(), cancellationToken: cancellationToken);
            await group.WriteAsync<double>(runtimeField, rows.Select(r => r.Runtime.TotalSeconds).ToArray(), cancellationToken: cancellationToken);
            foreach (var (field, column) in fields.Zip(columns))
            {
                var values = rows.Select(r => r.Values.TryGetValue(column.Key, out var v) ? v : null).ToArray();
                switch (column.Kind)
                {
                    case ColumnKind.Double:
                        await group.WriteAsync<double>(field, values.Select(v => RecordValue.AsDouble(v)).ToArray(), cancellationToken: cancellationToken);
                        break;
                    case ColumnKind.Int64:
                        await group.WriteAsync<long>(field, values.Select(v => (long?)v).ToArray(), cancellationToken: cancellationToken);
                        break;
                    case ColumnKind.UInt64:
                        await group.WriteAsync<ulong>(field, values.Select(v => v is null ? null : (ulong?)Convert.ToUInt64(v, CultureInfo.InvariantCulture)).ToArray(), cancellationToken: cancellationToken);
                        break;
                    case ColumnKind.Bool:
                        await group.WriteAsync<bool>(field, values.Select(v => (bool?)v).ToArray(), cancellationToken: cancellationToken);
                        break;
                    default:
                        await group.WriteAsync(field, values.Select(v => v is null ? null : RecordValue.Display(v)).ToArray(), null);
                        break;
                }
            }

            rows.Clear();
        }

        foreach (var row in reader.ReadHistory())
        {
            rows.Add(row);
            if (rows.Count == RowGroupRows)
            {
                await FlushAsync();
            }
        }

        if (rows.Count > 0)
        {
            await FlushAsync();
        }
    }
}
