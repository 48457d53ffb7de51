using Tracker.Server.Api;
using Tracker.Server.Storage;

namespace Tracker.Server;

/// <summary><c>keys create --name N [--project P] [--read-only]</c>, <c>keys list</c>, <c>keys revoke --name N</c>.</summary>
internal static class KeysCommand
{
    public static async Task<int> RunAsync(SqlRunStore store, string[] args, TextWriter output, TextWriter error)
    {
        var verb = args.SkipWhile(a => a != "keys").Skip(1).FirstOrDefault();
        var name = Option(args, "--name");
        var project = Option(args, "--project");
        var readOnly = args.Contains("--read-only");
        switch (verb)
        {
            case "create" when name is { Length: > 0 }:
                if ((await store.Keys.ListKeysAsync(CancellationToken.None)).Any(k => k.Name == name))
                {
                    await error.WriteLineAsync($"A key named '{name}' exists already; revoke it or choose another name.");
                    return 1;
                }

                var secret = ApiKeys.NewSecret();
                await store.Keys.CreateKeyAsync(new ApiKey(name, project, ApiKeys.Hash(secret), DateTimeOffset.UtcNow, null, readOnly), CancellationToken.None);
                await output.WriteLineAsync(secret);
                await error.WriteLineAsync($"Created {(readOnly ? "read-only " : "")}key '{name}'{(project is null ? "" : $" for project '{project}'")}. It is shown only this once; the server keeps its hash.");
                return 0;
            case "list":
                foreach (var key in await store.Keys.ListKeysAsync(CancellationToken.None))
                {
                    await output.WriteLineAsync($"{key.Name}\t{key.Project ?? "*"}\t{key.CreatedAt:O}\t{(key.RevokedAt is null ? "active" : $"revoked {key.RevokedAt:O}")}\t{(key.ReadOnly ? "read-only" : "read-write")}");
                }

                return 0;
            case "revoke" when name is { Length: > 0 }:
                if (await store.Keys.RevokeKeyAsync(name, DateTimeOffset.UtcNow, CancellationToken.None))
                {
                    await output.WriteLineAsync($"Revoked key '{name}'.");
                    return 0;
                }

                await error.WriteLineAsync($"No active key named '{name}'.");
                return 1;
            default:
                await error.WriteLineAsync("Usage: keys create --name NAME [--project PROJECT] [--read-only] | keys list | keys revoke --name NAME");
                return 2;
        }
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
