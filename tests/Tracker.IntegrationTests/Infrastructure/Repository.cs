namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// Where the repository's files are, found from the test build's output. Not from the source file's
/// path (<c>[CallerFilePath]</c>): a reproducible build maps that to <c>/_/</c>.
/// </summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Tracker.Sdk.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Tracker.Sdk.sln above {AppContext.BaseDirectory}: the tests run from the repository's build output.");
    }
}
