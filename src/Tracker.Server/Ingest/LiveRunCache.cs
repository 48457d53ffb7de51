using System.Collections.Concurrent;
using Tracker.Server.Storage;

namespace Tracker.Server.Ingest;

/// <summary>
/// What an append would otherwise read back from the database for every batch of a live run: its
/// summary and where each of its series stands. An entry is valid while the run's acked sequence
/// number is the one it was stored with: every append advances it in the same transaction, so an
/// append by another server instance on the same database (or a failed one here, whose entry is
/// never returned) makes the entry stale, and the next append reads the rows again.
/// </summary>
internal sealed class LiveRunCache
{
    /// <summary>Runs kept; beyond it the cache starts over (a server with more live runs reads their state again).</summary>
    private const int Capacity = 10_000;

    private readonly ConcurrentDictionary<long, LiveRun> _runs = new();

    /// <summary>Takes the run's entry out, for one append at a time; null when there is none or it is stale.</summary>
    public LiveRun? Take(long runPk, long ackedSeq) =>
        _runs.TryRemove(runPk, out var run) && run.AckedSeq == ackedSeq ? run : null;

    /// <summary>Puts an entry back after its append committed.</summary>
    public void Return(LiveRun run, long ackedSeq)
    {
        run.AckedSeq = ackedSeq;
        if (_runs.Count >= Capacity)
        {
            _runs.Clear();
        }

        _runs[run.Pk] = run;
    }
}

/// <summary>A run's fold (its summary's source) and series positions as of <see cref="AckedSeq"/>.</summary>
internal sealed class LiveRun(long pk, RunFold fold, SeriesTails tails)
{
    /// <summary>The run's records folded so far: the summary's source.</summary>
    public RunFold Fold { get; } = fold;

    public long Pk { get; } = pk;

    public long AckedSeq { get; set; } = -1;

    public SeriesTails Tails { get; } = tails;
}
