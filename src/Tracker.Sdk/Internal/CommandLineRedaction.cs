using System.Text;

namespace Tracker.Internal;

/// <summary>
/// The command line a run records, with the values that look like secrets written <c>***</c>: it is
/// stored in run.json, served by the read API and shown in the UI, and an API key passed as an
/// argument must not travel with it.
/// </summary>
/// <remarks>
/// A name is secret when its last word (words split at <c>-</c> and <c>_</c>, case ignored) is
/// key, apikey, token, secret, password, passwd or pwd, or any word contains "password", or when it
/// is one of the extra names given (<see cref="RunOptions.RedactArguments"/>). Its value is redacted
/// in <c>--name VALUE</c>, <c>--name=VALUE</c>, <c>-name VALUE</c> and environment-style
/// <c>NAME=VALUE</c>. Any value that starts with <c>trk_</c>, the prefix of Tracker's API keys, is
/// redacted wherever it stands, and so are a URL's password (<c>https://user:VALUE@host</c>) and the
/// secret pairs of a connection string (<c>Host=db;Password=VALUE</c>).
/// </remarks>
internal static partial class CommandLineRedaction
{
    public const string Mask = "***";

    /// <summary>The prefix of every API key a Tracker server issues.</summary>
    private const string KeyPrefix = "trk_";

    private static readonly string[] SecretWords = ["key", "apikey", "token", "secret", "password", "passwd", "pwd"];

    /// <summary>The program's command line as <see cref="Environment.CommandLine"/> writes it, secrets redacted.</summary>
    public static string Current(IEnumerable<string>? extraNames) => Redact(Environment.GetCommandLineArgs(), extraNames);

    /// <summary>The arguments joined into one command line (quoted where they hold spaces or quotes), secret values redacted.</summary>
    public static string Redact(IReadOnlyList<string> args, IEnumerable<string>? extraNames)
    {
        var extra = new HashSet<string>((extraNames ?? []).Select(Normalize), StringComparer.Ordinal);
        var redacted = new string[args.Count];
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (i > 0 && IsSecretValue(arg))
            {
                redacted[i] = Mask;
            }
            else if (equals > 0 && (IsSecretName(arg[..equals], extra) || IsSecretValue(arg[(equals + 1)..])))
            {
                redacted[i] = arg[..(equals + 1)] + Mask;
            }
            else
            {
                redacted[i] = RedactEmbedded(arg, extra);
            }

            // --api-key VALUE: the value is the next argument, unless that is another option.
            if (i + 1 < args.Count && arg.StartsWith('-') && equals < 0 && IsSecretName(arg, extra) && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                redacted[++i] = Mask;
            }
        }

        return string.Join(' ', redacted.Select(Quote));
    }

    /// <summary>
    /// Secrets inside one argument: the password of a URL's user information
    /// (<c>https://user:PASSWORD@host</c>) and secret pairs of a connection string
    /// (<c>Host=db;Password=PASSWORD</c>), as Npgsql, SqlClient and the like take them.
    /// </summary>
    private static string RedactEmbedded(string arg, HashSet<string> extra)
    {
        arg = UrlPassword().Replace(arg, "${before}" + Mask + "@");
        if (!arg.Contains(';', StringComparison.Ordinal))
        {
            return arg;
        }

        var parts = arg.Split(';');
        for (var j = 1; j < parts.Length; j++)
        {
            var equals = parts[j].IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && IsSecretName(parts[j][..equals].Trim(), extra))
            {
                parts[j] = parts[j][..(equals + 1)] + Mask;
            }
        }

        // The first pair follows the option's own "=" (--db=Password=x;Host=y) or starts the argument.
        var first = parts[0];
        var last = first.LastIndexOf('=');
        var start = first.LastIndexOf('=', Math.Max(last - 1, 0)) + 1;
        if (last > 0 && start < last && IsSecretName(first[start..last].Trim(), extra))
        {
            parts[0] = first[..(last + 1)] + Mask;
        }

        return string.Join(';', parts);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<before>://[^/?#@:\s]*:)[^/?#@\s]+@")]
    private static partial System.Text.RegularExpressions.Regex UrlPassword();

    private static bool IsSecretValue(string value) => value.StartsWith(KeyPrefix, StringComparison.Ordinal);

    private static bool IsSecretName(string name, HashSet<string> extra)
    {
        var normalized = Normalize(name);
        if (normalized.Length == 0 || normalized.Any(c => c is ' ' or '/' or '\\' or '.'))
        {
            return false; // a path or a sentence, not a name
        }

        var words = normalized.Split('-', StringSplitOptions.RemoveEmptyEntries);
        return extra.Contains(normalized)
            || (words.Length > 0 && SecretWords.Contains(words[^1], StringComparer.Ordinal))
            || words.Any(w => w.Contains("password", StringComparison.Ordinal));
    }

    /// <summary><c>--Api_Key</c>, <c>API_KEY</c> and <c>api-key</c> are one name: <c>api-key</c>.</summary>
    private static string Normalize(string name) => name.TrimStart('-', '/').Replace('_', '-').ToLowerInvariant();

    private static string Quote(string arg)
    {
        if (arg.Length > 0 && !arg.Any(c => char.IsWhiteSpace(c) || c == '"'))
        {
            return arg;
        }

        var quoted = new StringBuilder("\"");
        foreach (var c in arg)
        {
            quoted.Append(c == '"' ? "\\\"" : c);
        }

        return quoted.Append('"').ToString();
    }
}
