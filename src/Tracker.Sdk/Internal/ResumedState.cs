using Tracker.Reading;

namespace Tracker.Internal;

/// <summary>What a resumed run continues from: its next step and sequence number, and its history for the summary.</summary>
internal sealed class ResumedState
{
    public long NextStep { get; private init; }

    public long NextSeq { get; private init; }

    public List<KeyValuePair<string, object?>> History { get; } = [];

    public static ResumedState From(RunReader reader)
    {
        long lastSeq = 0;
        foreach (var record in reader.ReadRecords())
        {
            lastSeq = record.Seq;
        }

        long nextStep = 0;
        var state = new List<KeyValuePair<string, object?>>();
        foreach (var row in reader.ReadHistory())
        {
            nextStep = row.Step + 1;
            state.AddRange(row.Values);
        }

        var resumed = new ResumedState { NextStep = nextStep, NextSeq = lastSeq + 1 };
        resumed.History.AddRange(state);
        return resumed;
    }
}
