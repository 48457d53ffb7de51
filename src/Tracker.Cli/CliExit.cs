namespace Tracker.Cli;

/// <summary>The exit codes of every command.</summary>
internal static class CliExit
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}

/// <summary>The command could not do its work: one line for the user, exit code 1.</summary>
internal sealed class CliException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The arguments make no sense together: one line for the user, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
