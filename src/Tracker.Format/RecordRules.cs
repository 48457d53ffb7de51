using System.Diagnostics.CodeAnalysis;

namespace Tracker.Format;

/// <summary>
/// The rules of the run format, written once: keys, project and run ids, the largest record line,
/// and the strings that stand for the doubles JSON cannot hold. Each check returns the problem in
/// words that say what to do, or null when the input is fine.
/// </summary>
public static class RecordRules
{
    /// <summary>Most characters a key (metric, config or summary) may have.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Most characters a project or run id may have.</summary>
    public const int MaxIdLength = 128;

    /// <summary>
    /// Most bytes one record line may have: 16 MiB, half the server's default body limit, so a line
    /// always fits a request (W&amp;B refuses a log call over 25 MB). Larger text belongs in a
    /// <c>Text</c> or media file.
    /// </summary>
    public const int MaxLineBytes = 16 * 1024 * 1024;

    /// <summary>
    /// The largest step: 2^53 - 1, the largest integer a JSON number keeps exactly in JavaScript
    /// (<c>Number.MAX_SAFE_INTEGER</c>), so a step reads back the same in the web UI, reports and
    /// other JSON readers; steps are 0 to this. It also keeps the differences of a history block's
    /// <c>steps</c> and the server's step arithmetic far from overflowing.
    /// </summary>
    public const long MaxStep = (1L << 53) - 1;

    /// <summary>What is wrong with a step, or null when it is within 0 to <see cref="MaxStep"/>.</summary>
    /// <param name="step">The step.</param>
    /// <returns>The problem, or null.</returns>
    public static string? StepProblem(long step) =>
        step is >= 0 and <= MaxStep ? null
        : $"Step {step} is outside 0 to {MaxStep} (2^53 - 1, the largest integer JSON readers such as browsers keep exactly); log at a step in that range.";

    /// <summary>
    /// The states a run can end in (W&amp;B's): <c>finished</c> (Finish), <c>failed</c> (an exception
    /// or a non-zero exit code), <c>killed</c> (stopped by SIGINT or SIGTERM), <c>crashed</c> (it
    /// stopped without finishing). A run that has not ended is <c>running</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> FinalStates = ["finished", "failed", "killed", "crashed"];

    /// <summary>The text of a NaN double in JSON, which has no NaN.</summary>
    public const string NaN = "NaN";

    /// <summary>The text of positive infinity in JSON.</summary>
    public const string PositiveInfinity = "Infinity";

    /// <summary>The text of negative infinity in JSON.</summary>
    public const string NegativeInfinity = "-Infinity";

    /// <summary>The double a special string stands for (<c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>), or null.</summary>
    /// <param name="text">A JSON string value.</param>
    /// <returns>The double, or null for any other text.</returns>
    public static double? SpecialDouble(string text) => text switch
    {
        NaN => double.NaN,
        PositiveInfinity => double.PositiveInfinity,
        NegativeInfinity => double.NegativeInfinity,
        _ => null,
    };

    /// <summary>
    /// Why <paramref name="key"/> cannot name a value, or null when it can: keys are non-empty, at most
    /// <see cref="MaxKeyLength"/> characters, without control characters (NUL included) or empty
    /// <c>/</c> segments; metric keys must not start with <c>_</c>, which is reserved for automatic
    /// values (<c>_step</c>, <c>_time</c>, <c>_runtime</c>) as in W&amp;B.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="metric">Whether it names a logged metric (the <c>_</c> prefix is reserved) rather than a config key.</param>
    /// <returns>The problem, or null.</returns>
    public static string? KeyProblem(string? key, bool metric)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            return "A key must not be empty, whitespace or null. Give the value a name such as \"train/loss\".";
        }

        if (key.Length > MaxKeyLength)
        {
            return $"Key '{key[..40]}...' is {key.Length} characters long; keys may have at most {MaxKeyLength}. Use a shorter name.";
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                return $"Key '{Printable(key)}' contains a control character (U+{(int)c:X4}). Use printable characters only.";
            }
        }

        if (key[0] == '/' || key[^1] == '/' || key.Contains("//", StringComparison.Ordinal))
        {
            return $"Key '{key}' has an empty path segment; '/' separates non-empty parts, as in \"train/loss\".";
        }

        if (metric && key[0] == '_')
        {
            return $"Key '{key}' starts with '_', which is reserved for automatic values such as _step, _time and _runtime. Rename it, for example to '{key.TrimStart('_')}'.";
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <see cref="KeyProblem"/>'s words when the key is not valid.</summary>
    /// <param name="key">The key.</param>
    /// <param name="metric">Whether it names a logged metric.</param>
    /// <param name="paramName">The parameter to name in the exception.</param>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    public static void ThrowIfInvalidKey([NotNull] string? key, bool metric, string paramName = "key")
    {
        if (key is null)
        {
            throw new ArgumentNullException(paramName, "A key must not be null. Give the value a name such as \"train/loss\".");
        }

        if (KeyProblem(key, metric) is { } problem)
        {
            throw new ArgumentException(problem, paramName);
        }
    }

    /// <summary>
    /// Why <paramref name="name"/> cannot name a metric definition, or null when it can: a metric key,
    /// or a prefix glob ending with <c>*</c> (<c>val/*</c>, as W&amp;B's <c>define_metric</c>).
    /// </summary>
    /// <param name="name">The key or glob.</param>
    /// <returns>The problem, or null.</returns>
    public static string? MetricNameProblem(string? name)
    {
        var star = name?.IndexOf('*', StringComparison.Ordinal) ?? -1;
        if (star < 0)
        {
            return KeyProblem(name, metric: false);
        }

        var prefix = name![..^1].TrimEnd('/');
        return star != name.Length - 1
            ? $"Metric name '{Printable(name)}' may contain '*' only at its end, as in \"val/*\"."
            : prefix.Length == 0 ? null : KeyProblem(prefix, metric: false);
    }

    /// <summary>
    /// Why <paramref name="id"/> cannot be a project or run id, or null when it can: ids name folders,
    /// so they are 1 to <see cref="MaxIdLength"/> ASCII letters, digits, <c>-</c>, <c>_</c> or <c>.</c>,
    /// and neither <c>.</c> nor <c>..</c>.
    /// </summary>
    /// <param name="id">The id.</param>
    /// <param name="what">What it names, for the message: "project" or "run id".</param>
    /// <returns>The problem, or null.</returns>
    public static string? IdProblem(string? id, string what) =>
        id is null || id.Length is 0 or > MaxIdLength || id is "." or ".." || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            ? $"The {what} '{Printable(id ?? string.Empty)}' is not valid: use 1 to {MaxIdLength} letters, digits, '-', '_' or '.' (it names a folder)."
            : null;

    /// <summary>Text with control characters shown as <c>\uXXXX</c>, safe to print in an error.</summary>
    /// <param name="text">Any text.</param>
    /// <returns>The printable text, cut to 64 characters.</returns>
    public static string Printable(string text)
    {
        var cut = text.Length > 64 ? text[..64] + "..." : text;
        return cut.Any(char.IsControl) ? string.Concat(cut.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString())) : cut;
    }
}
