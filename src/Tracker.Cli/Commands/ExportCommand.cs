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
/// Values round-trip: doubles are written shortest-exact, NaN and infinities as NaN / Infinity / -Infinity.
/// </summary>
internal static class ExportCommand
{
    private const int RowGroupRows = 100_000;

    public static Command Create()
    {
        var run = new Argument<string>("RUN") { Description = "A run id (looked up under --dir) or a run directory." };
        var format = new Option<string>("--format") { Description = "csv, jsonl or parquet.", Required = true };
        format.AcceptOnlyFromAmong("csv", "jsonl", "parquet");
        var output = new Option<string?>("--output", "-o") { Description = "The file to write (default: standard output; RUN-ID.parquet for parquet)." };
        var dir = new Option<string>("--dir") { Description = "Runs root (default ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var command = new Command("export", "Export a run's full history as CSV, JSON lines or Parquet.") { run, format, output, dir };
        command.SetAction(async (r, ct) =>
        {
            var reader = LocalRuns.Open(r.GetValue(run)!, r.GetValue(dir)!);
            var kind = r.GetValue(format)!;
            var path = r.GetValue(output) ?? (kind == "parquet" ? $"{reader.Info.Id}.parquet" : null);
            await using var stream = path is null ? Console.OpenStandardOutput() : File.Create(path);
            var keys = Keys(reader);
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

    /// <summary>Every key of the history, and whether all its values are numbers (or bools).</summary>
    private static SortedDictionary<string, bool> Keys(RunReader reader)
    {
        var keys = new SortedDictionary<string, bool>(StringComparer.Ordinal);
        foreach (var row in reader.ReadHistory())
        {
            foreach (var (key, value) in row.Values)
            {
                var numeric = value is double or bool or null;
                keys[key] = keys.TryGetValue(key, out var before) ? before && numeric : numeric;
            }
        }

        return keys;
    }

    private static async Task WriteCsvAsync(RunReader reader, SortedDictionary<string, bool> keys, Stream stream)
    {
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16);
        await writer.WriteLineAsync(string.Join(',', new[] { "step", "timestamp_ms", "runtime_s" }.Concat(keys.Keys).Select(Quote)));
        var line = new StringBuilder();
        foreach (var row in reader.ReadHistory())
        {
            line.Clear().Append(row.Step.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Timestamp.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Runtime.TotalSeconds.ToString("R", CultureInfo.InvariantCulture));
            foreach (var key in keys.Keys)
            {
                line.Append(',');
                if (row.Values.TryGetValue(key, out var value) && value is not null)
                {
                    line.Append(value switch
                    {
                        double d => d.ToString("R", CultureInfo.InvariantCulture),
                        bool b => b ? "true" : "false",
                        _ => Quote(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""),
                    });
                }
            }

            await writer.WriteLineAsync(line);
        }
    }

    private static string Quote(string text) =>
        text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : text;

    private static async Task WriteJsonLinesAsync(RunReader reader, SortedDictionary<string, bool> keys, Stream stream)
    {
        await using var buffered = new BufferedStream(stream, 1 << 16);
        await using var json = new Utf8JsonWriter(buffered);
        foreach (var row in reader.ReadHistory())
        {
            json.Reset(buffered);
            json.WriteStartObject();
            json.WriteNumber("step", row.Step);
            json.WriteNumber("timestamp_ms", row.Timestamp.ToUnixTimeMilliseconds());
            json.WriteNumber("runtime_s", row.Runtime.TotalSeconds);
            foreach (var key in keys.Keys)
            {
                if (row.Values.TryGetValue(key, out var value))
                {
                    switch (value)
                    {
                        case double d when double.IsFinite(d): json.WriteNumber(key, d); break;
                        case double d: json.WriteString(key, d.ToString(CultureInfo.InvariantCulture)); break;
                        case bool b: json.WriteBoolean(key, b); break;
                        case null: json.WriteNull(key); break;
                        default: json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
                    }
                }
            }

            json.WriteEndObject();
            await json.FlushAsync();
            buffered.WriteByte((byte)'\n');
        }
    }

    /// <summary>Columns step, timestamp_ms, runtime_s, then a nullable double (or string) column per key, in row groups of <see cref="RowGroupRows"/>.</summary>
    private static async Task WriteParquetAsync(RunReader reader, SortedDictionary<string, bool> keys, Stream stream, CancellationToken cancellationToken)
    {
        var stepField = new DataField<long>("step");
        var timeField = new DataField<long>("timestamp_ms");
        var runtimeField = new DataField<double>("runtime_s");
        var fields = keys.Select(k => k.Value ? (DataField)new DataField<double?>(k.Key) : new DataField<string?>(k.Key)).ToList();
        var schema = new ParquetSchema([stepField, timeField, runtimeField, .. fields]);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        var rows = new List<HistoryRow>(RowGroupRows);
        async Task FlushAsync()
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(stepField, rows.Select(r => r.Step).ToArray(), cancellationToken: cancellationToken);
            await group.WriteAsync<long>(timeField, rows.Select(r => r.Timestamp.ToUnixTimeMilliseconds()).ToArray(), cancellationToken: cancellationToken);
            await group.WriteAsync<double>(runtimeField, rows.Select(r => r.Runtime.TotalSeconds).ToArray(), cancellationToken: cancellationToken);
            foreach (var (field, numeric) in fields.Zip(keys.Values))
            {
                if (numeric)
                {
                    var values = rows.Select(r => r.Values.TryGetValue(field.Name, out var v) && v is not null ? v is bool b ? (b ? 1 : 0) : (double?)(double)v : null).ToArray();
                    await group.WriteAsync<double>(field, values, cancellationToken: cancellationToken);
                }
                else
                {
                    await group.WriteAsync(field, rows.Select(r => r.Values.TryGetValue(field.Name, out var v) ? Convert.ToString(v, CultureInfo.InvariantCulture) : null).ToArray()!, null);
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
