using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Spectre.Console;
using Tracker.Settings;

namespace Tracker.Cli.Commands;

/// <summary>
/// <c>tracker login</c> and <c>tracker logout</c>: store (after checking it with the server) or
/// remove the API key for a server in the user's credentials file, as <c>wandb login</c> does.
/// </summary>
internal static class LoginCommand
{
    public static Command Create()
    {
        var url = new Argument<string?>("URL") { Description = $"The server (default: TRACKER_BASE_URL, then tracker.json, then {CliSettings.DefaultServer}).", Arity = ArgumentArity.ZeroOrOne };
        var key = new Option<string?>("--key") { Description = "The API key; otherwise read from piped stdin, or asked for without echo." };
        var command = new Command("login", "Check an API key with a Tracker server and store it for this user.") { url, key };
        command.SetAction((r, ct) => LoginAsync(ServerOf(r.GetValue(url)), r.GetValue(key), ct));
        return command;
    }

    public static Command CreateLogout()
    {
        var url = new Argument<string?>("URL") { Description = $"The server (default: TRACKER_BASE_URL, then tracker.json, then {CliSettings.DefaultServer}).", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("logout", "Remove the API key stored for a Tracker server.") { url };
        command.SetAction(r => Logout(ServerOf(r.GetValue(url))));
        return command;
    }

    private static Uri ServerOf(string? given) => CliSettings.Server(given) ?? new Uri(CliSettings.DefaultServer);

    private static async Task<int> LoginAsync(Uri server, string? key, CancellationToken cancellationToken)
    {
        key = (key ?? await ReadKeyAsync(server, cancellationToken))?.Trim();
        if (string.IsNullOrEmpty(key))
        {
            throw new UsageException("No API key given: pass --key KEY, pipe it on stdin, or type it when asked. Create one with: tracker keys create --name NAME");
        }

        var who = await CheckAsync(server, key, cancellationToken);
        string path;
        try
        {
            path = Credentials.Store(server, key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CliException($"The key is valid but could not be stored in {Credentials.FilePath}: {ex.Message}");
        }

        Console.WriteLine($"Logged in to {Credentials.ServerKey(server)} as key '{who}'; the key is stored in {path}.");
        return CliExit.Success;
    }

    private static async Task<string?> ReadKeyAsync(Uri server, CancellationToken cancellationToken)
    {
        if (Console.IsInputRedirected)
        {
            return await Console.In.ReadLineAsync(cancellationToken);
        }

        // Not echoed, so the key does not stay on screen or in a terminal recording.
        return await AnsiConsole.PromptAsync(new TextPrompt<string>($"API key for {Markup.Escape(Credentials.ServerKey(server))}:").Secret(), cancellationToken);
    }

    /// <summary>Asks the server who the key is (a request that always needs a key); the key's name, or a CliException that says why not.</summary>
    private static async Task<string> CheckAsync(Uri server, string key, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server, "api/v1/viewer"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new CliException($"Could not reach a Tracker server at {server} ({ex.Message}); check the URL and that the server runs (tracker serve). Nothing was stored.");
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw new CliException($"{server} refused the key ({(int)response.StatusCode}{Detail(body)}); nothing was stored. Check the key, or create one with: tracker keys create --name NAME");
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new CliException($"{server} answered {(int)response.StatusCode} {response.ReasonPhrase} to the key check{Detail(body)}; is it a Tracker server? Nothing was stored.");
            }

            try
            {
                using var document = JsonDocument.Parse(body);
                return document.RootElement.GetProperty("name").GetString() ?? "?";
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new CliException($"{server} did not answer the key check as a Tracker server does; check the URL. Nothing was stored.");
            }
        }
    }

    /// <summary>The problem's detail, as ": detail", when the body is a problem document.</summary>
    private static string Detail(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("detail", out var detail) && detail.GetString() is { Length: > 0 } text ? $": {text}" : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    private static int Logout(Uri server)
    {
        bool removed;
        try
        {
            removed = Credentials.Remove(server);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CliException($"Could not remove the key from {Credentials.FilePath}: {ex.Message}");
        }

        Console.WriteLine(removed
            ? $"Logged out of {Credentials.ServerKey(server)}: its key was removed from {Credentials.FilePath}."
            : $"No key was stored for {Credentials.ServerKey(server)}; nothing to remove.");
        return CliExit.Success;
    }
}
