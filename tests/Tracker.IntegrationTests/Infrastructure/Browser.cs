using System.Collections.Concurrent;
using Microsoft.Playwright;
using NUnit.Framework.Interfaces;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// Headless Chromium (Debian's <c>/usr/bin/chromium</c>, which <see cref="Prerequisites"/> installs
/// when missing; never a Playwright download) for the web UI tests: one browser per fixture, one
/// fresh context per test. It records every request URL and every console error or uncaught
/// exception of the test's pages, so <see cref="EndTestAsync"/> can assert that the UI stayed on
/// the server's host and logged no error.
/// </summary>
internal sealed class Browser : IAsyncDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string[] LaunchArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    ];

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly Uri _server;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly List<string> _expectedErrors = [];
    private IBrowserContext? _context;

    private Browser(IPlaywright playwright, IBrowser browser, Uri server)
    {
        _playwright = playwright;
        _browser = browser;
        _server = server;
    }

    /// <summary>How long locators, navigations and <c>Expect</c> wait before failing.</summary>
    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(15);

    public static async Task<Browser> LaunchAsync(Uri server)
    {
        Prerequisites.Require(Prerequisites.Chromium);

        Assertions.SetDefaultExpectTimeout((float)Timeout.TotalMilliseconds);
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args = LaunchArgs,
            });
            return new Browser(playwright, browser, server);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A new page in this test's context (created on first use), at <paramref name="path"/> on the server.</summary>
    public async Task<IPage> OpenAsync(string path)
    {
        var page = await NewPageAsync();
        await page.GotoAsync(new Uri(_server, path).ToString());
        return page;
    }

    public async Task<IPage> NewPageAsync()
    {
        if (_context is null)
        {
            _context = await _browser.NewContextAsync(new BrowserNewContextOptions
            {
                ViewportSize = new ViewportSize { Width = 1440, Height = 900 },
                Locale = "en-US",
                TimezoneId = "UTC",
                AcceptDownloads = true,
            });
            _context.SetDefaultTimeout((float)Timeout.TotalMilliseconds);
            _context.Request += (_, request) => _requests.Enqueue(request.Url);
            _context.Page += (_, page) => Watch(page);

            // Fail fast instead of waiting on a network that may not exist; the request is still recorded above.
            await _context.RouteAsync(url => !IsOnServer(url), route => route.AbortAsync("blockedbyclient"));
        }

        return await _context.NewPageAsync();
    }

    /// <summary>A full-page PNG in WorkDirectory/screenshots/NAME.png, attached to the current test.</summary>
    public static async Task<string> SaveScreenshotAsync(IPage page, string name)
    {
        var directory = Path.Combine(TestContext.CurrentContext.WorkDirectory, "screenshots");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        TestContext.AddTestAttachment(path, name);
        return path;
    }

    /// <summary>No request of this test went anywhere but the server (data: and blob: URLs never leave the page).</summary>
    public void AssertOnlyServerRequests()
    {
        Assert.That(_requests.Where(url => !IsOnServer(url)).Distinct(), Is.Empty, $"requests to hosts other than {_server.Authority}");
    }

    public void AssertNoConsoleErrors() =>
        Assert.That(_errors.Where(e => !_expectedErrors.Any(e.Contains)), Is.Empty, "console errors and uncaught exceptions of the page");

    /// <summary>Console errors containing <paramref name="text"/> are this test's doing (a response it made fail), not the page's.</summary>
    public void ExpectConsoleError(string text) => _expectedErrors.Add(text);

    /// <summary>
    /// For [TearDown]: screenshots every open page if the test failed, closes the test's context,
    /// then asserts that no request left the server's host and that no page logged an error.
    /// </summary>
    public async Task EndTestAsync()
    {
        try
        {
            if (_context is not null)
            {
                if (TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Failed)
                {
                    var test = TestContext.CurrentContext.Test.Name;
                    for (var i = 0; i < _context.Pages.Count; i++)
                    {
                        await SaveScreenshotAsync(_context.Pages[i], $"{test}-failed-{i}");
                    }
                }

                await _context.CloseAsync();
            }

            Assert.Multiple(() =>
            {
                AssertOnlyServerRequests();
                AssertNoConsoleErrors();
            });
        }
        finally
        {
            _context = null;
            _requests.Clear();
            _errors.Clear();
            _expectedErrors.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }

    private void Watch(IPage page)
    {
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                _errors.Enqueue($"console.error at {message.Location}: {message.Text}");
            }
        };
        page.PageError += (_, error) => _errors.Enqueue($"uncaught on {page.Url}: {error}");
    }

    private bool IsOnServer(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.Scheme is "data" or "blob" or "about"
            || (uri.Scheme == Uri.UriSchemeHttp && uri.Host == _server.Host && uri.Port == _server.Port)
            || (_server.IsFile && uri.IsFile && uri.AbsolutePath == _server.AbsolutePath); // a report opened from file://
    }
}
