using TorchSharp;
using static TorchSharp.torch;

namespace Tracker;

/// <summary>What <see cref="TorchSharpRunExtensions.Watch"/> logs.</summary>
[Flags]
public enum WatchLog
{
    /// <summary>Statistics of each parameter's gradient.</summary>
    Gradients = 1,

    /// <summary>Statistics of each parameter's values.</summary>
    Parameters = 2,

    /// <summary>Both.</summary>
    All = Gradients | Parameters,
}

/// <summary>TorchSharp for Tracker runs: scalar tensors, and a module's parameters and gradients as <c>wandb.watch</c> logs them. Tensors as images and histograms: <see cref="TensorMediaExtensions"/>.</summary>
public static class TorchSharpRunExtensions
{
    /// <summary>Logs a one-element tensor (a loss, an accuracy) as a number at the run's next step, or at <paramref name="step"/>.</summary>
    /// <param name="run">The run.</param>
    /// <param name="key">The metric key.</param>
    /// <param name="scalar">A tensor of one element, on any device.</param>
    /// <param name="step">The step; default the run's next one.</param>
    /// <exception cref="ArgumentException">The tensor has more than one element.</exception>
    public static void Log(this Run run, string key, Tensor scalar, long? step = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(scalar);
        if (scalar.numel() != 1)
        {
            throw new ArgumentException($"'{key}' is a tensor of {scalar.numel()} elements ({string.Join('x', scalar.shape)}); log a one-element tensor, such as loss or loss.mean().", nameof(scalar));
        }

        run.Log(new Dictionary<string, object?> { [key] = scalar.ToDouble() }, step);
    }

    /// <summary>
    /// Watches a module: every <paramref name="logEvery"/> calls of <see cref="ModuleWatch.Step"/>
    /// (call it after <c>backward()</c>), logs the norm, mean, std, min and max of each named
    /// parameter (<c>parameters/NAME/norm</c>, ...) and of its gradient (<c>gradients/NAME/norm</c>, ...),
    /// with the run's current step, and a histogram of each (<c>parameters/NAME</c>,
    /// <c>gradients/NAME</c>), charted over steps as <c>wandb.watch</c> shows them.
    /// </summary>
    /// <param name="run">The run.</param>
    /// <param name="module">The model.</param>
    /// <param name="logEvery">How many steps apart; default 100.</param>
    /// <param name="log">Gradients, parameters, or both (the default).</param>
    /// <param name="histograms">Whether to log a 64-bin histogram of each tensor too (a media record per tensor each time); default true, as in wandb.watch.</param>
    /// <returns>The watch; dispose it to stop.</returns>
    public static ModuleWatch Watch(this Run run, nn.Module module, int logEvery = 100, WatchLog log = WatchLog.All, bool histograms = true)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(module);
        return new ModuleWatch(run, new WatchSchedule(logEvery), () => Sample(module, log, histograms));
    }

    /// <summary>Adds what the watch logs of one tensor's values under <paramref name="prefix"/>: the statistics, and the histogram if asked.</summary>
    internal static void Describe(Dictionary<string, object?> values, string prefix, float[] tensorValues, bool histogram)
    {
        TensorStatistics.Of(tensorValues).AddTo(values, prefix);
        if (histogram && tensorValues.Length > 0)
        {
            values[prefix] = Histogram.FromValues(tensorValues);
        }
    }

    private static Dictionary<string, object?> Sample(nn.Module module, WatchLog log, bool histograms)
    {
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            if (log.HasFlag(WatchLog.Parameters))
            {
                Describe(values, $"parameters/{name}", TensorMediaExtensions.Values<float>(parameter, ScalarType.Float32), histograms);
            }

            if (log.HasFlag(WatchLog.Gradients) && parameter.grad is { } gradient)
            {
                Describe(values, $"gradients/{name}", TensorMediaExtensions.Values<float>(gradient, ScalarType.Float32), histograms);
            }
        }

        return values;
    }
}

/// <summary>Which steps a watch logs at: every <c>logEvery</c>-th call, starting with the first.</summary>
internal sealed class WatchSchedule
{
    private readonly int _every;
    private long _calls;

    public WatchSchedule(int every)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(every, 1);
        _every = every;
    }

    /// <summary>Counts a step; true when this one is logged.</summary>
    public bool Next() => _calls++ % _every == 0;
}

/// <summary>A module being watched by a run; see <see cref="TorchSharpRunExtensions.Watch"/>.</summary>
public sealed class ModuleWatch : IDisposable
{
    private readonly Run _run;
    private readonly WatchSchedule _schedule;
    private readonly Func<Dictionary<string, object?>> _sample;
    private bool _disposed;

    internal ModuleWatch(Run run, WatchSchedule schedule, Func<Dictionary<string, object?>> sample) =>
        (_run, _schedule, _sample) = (run, schedule, sample);

    /// <summary>Counts a training step; every <c>logEvery</c>-th one logs the statistics (without committing the step, so they join the step's other values).</summary>
    public void Step()
    {
        if (!_disposed && _schedule.Next())
        {
            _run.Log(_sample(), commit: false);
        }
    }

    /// <summary>Stops watching.</summary>
    public void Dispose() => _disposed = true;
}
