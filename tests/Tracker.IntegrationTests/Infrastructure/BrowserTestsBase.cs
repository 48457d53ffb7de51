namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A web UI fixture: a real server process over SQLite, a client holding its key and headless
/// Chromium pointed at it, for all its tests. After each test <see cref="Browser.EndTestAsync"/>
/// asserts that no request left the server's host and that no page logged an error.
/// </summary>
public abstract class BrowserTestsBase
{
    private protected ServerProcess Server { get; private set; } = null!;

    private protected HttpClient Http { get; private set; } = null!;

    private protected Browser Browser { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartServerAndBrowserAsync()
    {
        Server = await ServerProcess.StartAsync("sqlite");
        Http = Server.Client();
        Browser = await Browser.LaunchAsync(Server.BaseUrl);
    }

    [OneTimeTearDown]
    public async Task StopServerAndBrowserAsync()
    {
        Http?.Dispose();
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    [TearDown]
    public async Task EndTestAsync() => await Browser.EndTestAsync();
}
