namespace Tracker.Format.Tests;

/// <summary>The golden corpus of record lines (tests/Corpus), copied next to the tests.</summary>
public static class Corpus
{
    public static string Folder(string kind) => Path.Combine(AppContext.BaseDirectory, "Corpus", kind);

    /// <summary>The valid lines in file-name order: one run, seq 1..N.</summary>
    public static IReadOnlyList<string> ValidLines() =>
        [.. Directory.GetFiles(Folder("valid"), "*.jsonl").Order(StringComparer.Ordinal).Select(f => File.ReadAllText(f).TrimEnd('\n'))];

    public static IEnumerable<TestCaseData> Invalid() =>
        Directory.GetFiles(Folder("invalid"), "*.jsonl").Order(StringComparer.Ordinal)
            .Select(f => new TestCaseData(File.ReadAllText(f).TrimEnd('\n')).SetArgDisplayNames(Path.GetFileNameWithoutExtension(f)));

    /// <summary>What folding the valid corpus must give, whoever folds it.</summary>
    public static readonly Dictionary<string, object?> ExpectedSummary = new(StringComparer.Ordinal)
    {
        ["loss"] = 2.0, // mean of 1, NaN, 3: NaN skipped
        ["epoch"] = 3L,
        ["val/acc"] = 0.75, // best, maximised
        ["word"] = "NaN", // text, not a number
        ["flag"] = true,
        ["grad"] = 1.5,
        ["count"] = 11L, // overridden to 7, then logged again
        ["huge"] = 18446744073709551615UL,
        ["label"] = "cat",
        ["best_model"] = "v3",
    };

    public static readonly Dictionary<string, object?> ExpectedConfig = new(StringComparer.Ordinal)
    {
        ["lr"] = 0.0005,
        ["layers"] = new List<object?> { 64L, 32L },
        ["seed"] = 9007199254740993L,
        ["max"] = 18446744073709551615UL,
        ["activation"] = "NaN",
        ["name"] = "resnet",
        ["pretrained"] = true,
    };
}
