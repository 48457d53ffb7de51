namespace Tracker.Format;

/// <summary>
/// One parsed line of <c>records.jsonl</c>: a record. Every line has a per-run sequence number
/// (1, 2, 3, … without gaps), a type and a time; the derived classes hold each type's payload.
/// </summary>
/// <param name="Seq">The per-run sequence number.</param>
/// <param name="UnixMs">When the record was made, in Unix milliseconds (a block: its first row).</param>
public abstract record RecordLine(long Seq, long UnixMs)
{
    /// <summary>The record's <c>type</c>: <c>history</c>, <c>system</c>, <c>config</c>, <c>summary</c>, <c>metric</c>, <c>run</c>, <c>finish</c>, <c>media</c>, <c>output</c>, or another for later versions.</summary>
    public abstract string Type { get; }
}

/// <summary>
/// A <c>history</c> line (metrics logged at one step, or a block of steps), or a <c>system</c> line (a
/// sample of system metrics, numbered on its own axis by <c>step</c>).
/// </summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">The time of the first row.</param>
/// <param name="Block">The rows, as columns.</param>
/// <param name="IsSystem">Whether this is a <c>system</c> sample rather than history.</param>
public sealed record HistoryLine(long Seq, long UnixMs, HistoryBlock Block, bool IsSystem) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => IsSystem ? RecordTypes.System : RecordTypes.History;
}

/// <summary>A <c>config</c> line (values merged into the config) or a <c>summary</c> line (summary overrides; a null value removes one).</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">The time.</param>
/// <param name="IsSummary">Whether it is a summary line.</param>
/// <param name="Values">The values by key, plain (see <see cref="RecordValue"/>).</param>
/// <param name="IsFinal">A summary written at finish: the whole summary as computed, not overrides.</param>
public sealed record ValuesLine(long Seq, long UnixMs, bool IsSummary, IReadOnlyDictionary<string, object?> Values, bool IsFinal) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => IsSummary ? RecordTypes.Summary : RecordTypes.Config;
}

/// <summary>A <c>metric</c> line: a metric definition (W&amp;B's <c>define_metric</c>).</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">The time.</param>
/// <param name="Definition">The definition.</param>
public sealed record MetricLine(long Seq, long UnixMs, MetricDefinition Definition) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => RecordTypes.Metric;
}

/// <summary>A <c>run</c> line: new tags or notes (a member that is absent is unchanged).</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">The time.</param>
/// <param name="Tags">The tags, when they changed.</param>
/// <param name="Notes">The notes, when they changed.</param>
/// <param name="HasNotes">Whether <c>notes</c> was given (null clears the notes).</param>
public sealed record RunLine(long Seq, long UnixMs, IReadOnlyList<string>? Tags, string? Notes, bool HasNotes) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => RecordTypes.Run;
}

/// <summary>A <c>finish</c> line: the run's final state.</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">When the run ended.</param>
/// <param name="State"><c>finished</c>, <c>failed</c>, <c>killed</c> or <c>crashed</c>.</param>
/// <param name="ExitCode">The exit code, when known.</param>
/// <param name="Error">Why it failed, when known.</param>
public sealed record FinishLine(long Seq, long UnixMs, string State, int? ExitCode, string? Error) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => RecordTypes.Finish;
}

/// <summary>A <c>media</c> line: an image, histogram, table or text at a step of a key.</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">When it was logged.</param>
/// <param name="Step">The step.</param>
/// <param name="Key">The key.</param>
/// <param name="Media">The media object.</param>
public sealed record MediaLine(long Seq, long UnixMs, long Step, string Key, MediaItem Media) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => RecordTypes.Media;
}

/// <summary>An <c>output</c> line: one console line the program wrote.</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">When it was written.</param>
/// <param name="Stream"><c>stdout</c> or <c>stderr</c>.</param>
/// <param name="Text">The line, without its newline.</param>
public sealed record OutputLine(long Seq, long UnixMs, string Stream, string Text) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => RecordTypes.Output;
}

/// <summary>A line of a type this version does not know: kept, passed on, and otherwise left alone.</summary>
/// <param name="Seq">The sequence number.</param>
/// <param name="UnixMs">The time.</param>
/// <param name="CustomType">Its type.</param>
public sealed record CustomLine(long Seq, long UnixMs, string CustomType) : RecordLine(Seq, UnixMs)
{
    /// <inheritdoc/>
    public override string Type => CustomType;
}

/// <summary>The record types of this version.</summary>
public static class RecordTypes
{
    /// <summary>Metrics at a step, or a block of steps.</summary>
    public const string History = "history";

    /// <summary>A sample of system metrics.</summary>
    public const string System = "system";

    /// <summary>Config values merged in.</summary>
    public const string Config = "config";

    /// <summary>Summary overrides, or the final summary.</summary>
    public const string Summary = "summary";

    /// <summary>A metric definition.</summary>
    public const string Metric = "metric";

    /// <summary>Tags or notes changed.</summary>
    public const string Run = "run";

    /// <summary>The final state.</summary>
    public const string Finish = "finish";

    /// <summary>An image, histogram, table or text.</summary>
    public const string Media = "media";

    /// <summary>A console line.</summary>
    public const string Output = "output";
}

/// <summary>A metric's definition (W&amp;B's <c>define_metric</c>): which keys it applies to, its x-axis, and how it is summarised.</summary>
/// <param name="Name">The metric key, or a prefix glob such as <c>val/*</c>.</param>
/// <param name="StepMetric">The key charts use as this metric's x-axis, if not <c>_step</c>.</param>
/// <param name="Summary">How the summary value is computed.</param>
/// <param name="Goal">Whether smaller or larger is better; needed by <see cref="SummaryMode.Best"/>.</param>
public sealed record MetricDefinition(string Name, string? StepMetric, SummaryMode Summary, MetricGoal Goal)
{
    /// <summary>Whether the definition applies to <paramref name="key"/> (a glob matches by prefix).</summary>
    /// <param name="key">A metric key.</param>
    /// <returns>True when it applies.</returns>
    public bool Matches(string key) => Name.EndsWith('*') ? key.StartsWith(Name[..^1], StringComparison.Ordinal) : key == Name;
}

/// <summary>
/// The media object of a media line (docs/protocol.md, "Media"), read once: images and tables name
/// their file by SHA-256; histograms and texts are inline.
/// </summary>
/// <param name="Kind"><c>image</c>, <c>histogram</c>, <c>table</c> or <c>text</c>.</param>
/// <param name="Json">The media object as JSON text, as it came.</param>
public sealed record MediaItem(string Kind, string Json)
{
    /// <summary>The SHA-256 of the file (images and tables).</summary>
    public string? Sha256 { get; init; }

    /// <summary>The file's name in the run directory, such as <c>media/&lt;sha256&gt;.png</c> (images and tables).</summary>
    public string? Path { get; init; }

    /// <summary><c>png</c> or <c>jpeg</c> (images).</summary>
    public string? ImageFormat { get; init; }

    /// <summary>Width in pixels (images).</summary>
    public int Width { get; init; }

    /// <summary>Height in pixels (images).</summary>
    public int Height { get; init; }

    /// <summary>The file's size in bytes (images and tables).</summary>
    public long Bytes { get; init; }

    /// <summary>The caption, if any.</summary>
    public string? Caption { get; init; }

    /// <summary>The n + 1 ascending bin edges (histograms).</summary>
    public double[]? Bins { get; init; }

    /// <summary>The n counts (histograms).</summary>
    public double[]? Counts { get; init; }

    /// <summary>NaN values counted but not binned (histograms).</summary>
    public long NaNCount { get; init; }

    /// <summary>Infinite values counted but not binned (histograms).</summary>
    public long InfinityCount { get; init; }

    /// <summary>The text (texts).</summary>
    public string? Text { get; init; }

    /// <summary>Column names (tables).</summary>
    public IReadOnlyList<string>? Columns { get; init; }

    /// <summary>Number of rows (tables).</summary>
    public long Rows { get; init; }
}

/// <summary>
/// The rows of a history line as columns: one row (a single step) or a block of rows sharing
/// <see cref="Steps"/> and <see cref="Times"/>, with one column of values per key.
/// </summary>
/// <param name="steps">Each row's step.</param>
/// <param name="times">Each row's time, Unix milliseconds.</param>
public sealed class HistoryBlock(long[] steps, long[] times)
{
    /// <summary>Each row's step.</summary>
    public long[] Steps { get; } = steps;

    /// <summary>Each row's time, Unix milliseconds.</summary>
    public long[] Times { get; } = times;

    /// <summary>One column per key, in the line's order.</summary>
    public List<HistoryColumn> Columns { get; } = [];

    /// <summary>Number of rows.</summary>
    public int Rows => Steps.Length;
}

/// <summary>
/// One key's values in a history line. <see cref="Numbers"/> holds every value as a double (for
/// charts: bools as 1 and 0, text and absent values as NaN); <see cref="Others"/> is null while every
/// value is a double, otherwise it holds per row null for a double, or the value's exact form: a
/// <see cref="long"/> or <see cref="ulong"/> integer, a <see cref="bool"/>, a <see cref="string"/>, or
/// <see cref="Absent"/> where the key was not logged at that row.
/// </summary>
/// <param name="key">The key.</param>
/// <param name="rows">Number of rows.</param>
public sealed class HistoryColumn(string key, int rows)
{
    /// <summary>What <see cref="Others"/> holds where the key was not logged (a JSON null in a block).</summary>
    public static readonly object Absent = new();

    /// <summary>The key.</summary>
    public string Key { get; } = key;

    /// <summary>Every value as a double.</summary>
    public double[] Numbers { get; } = new double[rows];

    /// <summary>Exact values that are not plain doubles, or null when there are none.</summary>
    public object?[]? Others { get; set; }

    /// <summary>The plain value at a row: a double, long, ulong, bool or string; <see cref="Absent"/> when the key was not logged there.</summary>
    /// <param name="row">The row.</param>
    /// <returns>The value.</returns>
    public object Value(int row) => Others?[row] ?? Numbers[row];

    /// <summary>Whether the row holds a charted number (a double, integer or bool), not text or nothing.</summary>
    /// <param name="row">The row.</param>
    /// <returns>True for numbers.</returns>
    public bool IsNumber(int row) => Others?[row] is null or long or ulong or bool;
}

/// <summary>Bad input, named precisely enough to fix: the line (1-based, within what was read) and the field.</summary>
/// <param name="line">The line number.</param>
/// <param name="field">The field at fault, such as <c>values.loss</c> or <c>seq</c>.</param>
/// <param name="detail">What is wrong and what to do.</param>
public sealed class RecordFormatException(int line, string field, string detail) : FormatException($"line {line}: {detail}")
{
    /// <summary>The line number.</summary>
    public int Line { get; } = line;

    /// <summary>The field at fault.</summary>
    public string Field { get; } = field;

    /// <summary>What is wrong, without the line number.</summary>
    public string Detail { get; } = detail;
}
