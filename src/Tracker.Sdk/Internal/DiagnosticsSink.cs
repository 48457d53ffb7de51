namespace Tracker.Internal;

/// <summary>
/// Delivers warnings to the user's hook, or prints them. Never throws: a faulty hook must not
/// break logging. Repetitive warnings are limited to one per interval.
/// </summary>
internal sealed class DiagnosticsSink(Action<RunDiagnostic>? hook, TextWriter? output)
{
    private static readonly TimeSpan RateLimit = TimeSpan.FromSeconds(5);
    private long _lastLimitedTicks = long.MinValue;
    private long _suppressed;

    public void Report(RunDiagnostic diagnostic)
    {
        try
        {
            if (hook is not null)
            {
                hook(diagnostic);
            }
            else
            {
                (output ?? Console.Error).WriteLine(diagnostic.ToString());
            }
        }
#pragma warning disable CA1031 // a diagnostics hook must never take the run down
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>Reports at most one such warning per interval, noting how many were held back.</summary>
    public void ReportRateLimited(RunDiagnostic diagnostic)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastLimitedTicks);
        if (last != long.MinValue && now - last < RateLimit.TotalMilliseconds)
        {
            Interlocked.Increment(ref _suppressed);
            return;
        }

        Interlocked.Exchange(ref _lastLimitedTicks, now);
        var suppressed = Interlocked.Exchange(ref _suppressed, 0);
        Report(suppressed == 0 ? diagnostic : diagnostic with { Message = $"{diagnostic.Message} ({suppressed:N0} similar messages were held back.)" });
    }
}
