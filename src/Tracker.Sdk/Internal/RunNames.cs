namespace Tracker.Internal;

/// <summary>Random run ids and friendly names such as <c>brisk-river-3</c>, as W&amp;B gives them.</summary>
internal static class RunNames
{
    private const string IdAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    private static readonly string[] Adjectives =
    [
        "brisk", "calm", "bold", "bright", "clever", "cosmic", "crisp", "daring", "eager", "fancy",
        "gentle", "golden", "happy", "jolly", "keen", "lively", "lucky", "mellow", "misty", "noble",
        "proud", "quiet", "rapid", "silver", "smooth", "solar", "stellar", "sunny", "swift", "vivid",
    ];

    private static readonly string[] Nouns =
    [
        "breeze", "brook", "canyon", "cloud", "comet", "dawn", "dream", "dune", "field", "firefly",
        "forest", "frost", "glade", "harbor", "lake", "leaf", "meadow", "moon", "night", "ocean",
        "pine", "plains", "rain", "river", "sea", "shadow", "sky", "snow", "star", "wave",
    ];

    /// <summary>
    /// Eight random letters and digits (41 bits). An id is not a secret, so Random.Shared does:
    /// the cryptographic generator loads OpenSSL, which cost a cold Run.Init 5 to 50 ms.
    /// </summary>
    public static string NewId() => string.Create(8, 0, static (id, _) => Random.Shared.GetItems(IdAlphabet, id));

    /// <summary>A name whose number counts the project's runs, so names sort in creation order.</summary>
    public static string NewName(string projectDirectory)
    {
        // Runs that exist: the new run's own directory is already made (to hold its lock) and has no run.json yet.
        var count = System.IO.Directory.Exists(projectDirectory)
            ? System.IO.Directory.GetDirectories(projectDirectory).Count(d => File.Exists(Path.Combine(d, RunFiles.RunFile)))
            : 0;
        return $"{Adjectives[Random.Shared.Next(Adjectives.Length)]}-{Nouns[Random.Shared.Next(Nouns.Length)]}-{count + 1}";
    }
}
