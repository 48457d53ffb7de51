using System.Collections.Concurrent;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A fixture with a real server process on <paramref name="storage"/> ("sqlite" or "postgres") and
/// a client holding its key, for all its tests; per test, a fresh folder for run directories and
/// the diagnostics the SDK reported.
/// </summary>
public abstract class ServerTestsBase(string storage, string rootName)
{
    /// <summary>"sqlite" or "postgres".</summary>
    private protected string Storage => storage;

    private protected ServerProcess Server { get; private set; } = null!;

    private protected HttpClient Http { get; private set; } = null!;

    /// <summary>The test's own folder for run directories, deleted after it.</summary>
    private protected string Root { get; private set; } = string.Empty;

    /// <summary>What the SDK reported during the test (pass <c>DiagnosticsSeen.Enqueue</c> as a run's diagnostics hook).</summary>
    private protected ConcurrentQueue<RunDiagnostic> DiagnosticsSeen { get; private set; } = new();

    [OneTimeSetUp]
    public async Task StartServerAsync()
    {
        Server = await ServerProcess.StartAsync(storage);
        Http = Server.Client();
    }

    [OneTimeTearDown]
    public async Task StopServerAsync()
    {
        Http?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    [SetUp]
    public void CreateRoot()
    {
        Root = Path.Combine(Path.GetTempPath(), rootName, Guid.NewGuid().ToString("N"));
        DiagnosticsSeen = new();
    }

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
