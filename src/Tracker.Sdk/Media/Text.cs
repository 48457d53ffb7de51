using System.Globalization;
using System.Text;
using Tracker.Internal;

namespace Tracker;

/// <summary>A text to log at a step, such as a generated sample or an epoch's notes; kept in the record itself.</summary>
public sealed class Text : Media
{
    /// <summary>Most UTF-8 bytes a text may have (1 MiB); log longer texts as files.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>A text.</summary>
    /// <param name="value">The text, at most 1 MiB as UTF-8.</param>
    /// <exception cref="ArgumentException">The text is over 1 MiB.</exception>
    public Text(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > MaxBytes)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The text is {bytes:N0} bytes as UTF-8; at most {MaxBytes:N0} can be logged as a Text. Save longer texts as a file in the run's files/ folder."),
                nameof(value));
        }

        Value = value;
    }

    /// <summary>The text.</summary>
    public string Value { get; }

    internal override string Kind => "text";

    private protected override (byte[] Json, string? File) Write(string mediaDirectory) => (MediaFiles.Json(json =>
    {
        json.WriteString("_type", Kind);
        json.WriteString("text", Value);
    }), null);

    /// <summary>The text itself.</summary>
    public override string ToString() => Value;
}
