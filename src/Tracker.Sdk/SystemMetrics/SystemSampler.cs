namespace Tracker.SystemMetrics;

/// <summary>
/// Samples the probes on a timer and hands each sample to the run, which logs it as a
/// <c>system</c> record: keys such as <c>system/cpu</c>, on their own axis (sample number and
/// time), apart from the run's steps and summary. A probe that throws is dropped, once reported.
/// </summary>
internal sealed class SystemSampler : IDisposable
{
    private readonly IReadOnlyList<ISystemProbe> _probes;
    private readonly Action<IReadOnlyDictionary<string, double>> _write;
    private readonly Action<Exception> _onProbeFailed;
    private readonly ITimer _timer;
    private readonly HashSet<ISystemProbe> _failed = [];
    private readonly object _gate = new();
    private bool _disposed;

    public SystemSampler(IReadOnlyList<ISystemProbe> probes, TimeSpan interval, TimeProvider time, Action<IReadOnlyDictionary<string, double>> write, Action<Exception> onProbeFailed)
    {
        (_probes, _write, _onProbeFailed) = (probes, write, onProbeFailed);
        _timer = time.CreateTimer(static s => ((SystemSampler)s!).SampleNow(), this, interval, interval);
    }

    public static IReadOnlyList<ISystemProbe> DefaultProbes(string runDirectory, bool processTree = false) =>
        [new ProcessProbe(processTree), new MachineProbe(runDirectory), new GpuProbe(() => GpuProbe.RunNvidiaSmi())];

    /// <summary>Takes one sample now (the timer's callback; also the last one at finish).</summary>
    public void SampleNow()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var values = new SortedDictionary<string, double>(StringComparer.Ordinal);
            foreach (var probe in _probes)
            {
                if (_failed.Contains(probe))
                {
                    continue;
                }

                try
                {
                    probe.Sample(values);
                }
#pragma warning disable CA1031 // a broken probe must not take the run down: it is reported and left out
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _failed.Add(probe);
                    _onProbeFailed(ex);
                }
            }

            if (values.Count > 0)
            {
                _write(values);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        _timer.Dispose();
    }
}
