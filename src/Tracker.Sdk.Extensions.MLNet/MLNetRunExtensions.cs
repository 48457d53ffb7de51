using System.Collections;
using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace Tracker;

/// <summary>ML.NET for Tracker runs: metrics objects and cross-validation results in one call, and the MLContext's log.</summary>
public static class MLNetRunExtensions
{
    /// <summary>
    /// Logs every number of an ML.NET metrics object (<c>RegressionMetrics</c>,
    /// <c>BinaryClassificationMetrics</c>, <c>MulticlassClassificationMetrics</c>, <c>ClusteringMetrics</c>,
    /// <c>RankingMetrics</c>, ...) as one step: its public numeric properties become keys
    /// <c>prefix/PropertyName</c>, and lists of numbers <c>prefix/PropertyName/0</c>, <c>/1</c>, ...
    /// </summary>
    /// <param name="run">The run.</param>
    /// <param name="metrics">The metrics object an ML.NET <c>Evaluate</c> returned.</param>
    /// <param name="prefix">Key prefix, such as <c>val</c> or <c>test</c>; empty for none.</param>
    /// <param name="step">The step to log at; default the run's next step.</param>
    public static void LogMetrics(this Run run, object metrics, string prefix = "", long? step = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(metrics);
        run.Log(Flatten(metrics, prefix), step);
    }

    /// <summary>
    /// Logs a cross-validation result: one step per fold with the fold's metrics under
    /// <c>prefix/</c> and <c>prefix/fold</c> = the fold index, then the mean and standard deviation
    /// of each metric across folds in the summary (<c>prefix/Metric_mean</c>, <c>prefix/Metric_std</c>).
    /// </summary>
    /// <typeparam name="TMetrics">The metrics type of the catalog that cross-validated.</typeparam>
    /// <param name="run">The run.</param>
    /// <param name="results">What <c>CrossValidate</c> returned.</param>
    /// <param name="prefix">Key prefix; default <c>cv</c>.</param>
    public static void LogCrossValidation<TMetrics>(this Run run, IReadOnlyList<TrainCatalogBase.CrossValidationResult<TMetrics>> results, string prefix = "cv")
        where TMetrics : class
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(results);
        var folds = new List<Dictionary<string, object?>>();
        foreach (var result in results)
        {
            var values = Flatten(result.Metrics, prefix);
            folds.Add(values);
            values[Key(prefix, "fold")] = (double)result.Fold;
            run.Log(values);
        }

        foreach (var key in folds.SelectMany(f => f.Keys).Distinct().Where(k => k != Key(prefix, "fold")))
        {
            var numbers = folds.Select(f => f.GetValueOrDefault(key)).OfType<double>().ToList();
            if (numbers.Count == 0)
            {
                continue;
            }

            var mean = numbers.Average();
            run.Summary[$"{key}_mean"] = mean;
            run.Summary[$"{key}_std"] = Math.Sqrt(numbers.Sum(v => (v - mean) * (v - mean)) / numbers.Count);
        }
    }

    /// <summary>
    /// Keeps the MLContext's log messages of <paramref name="minimum"/> kind and above with the run,
    /// as lines of <c>files/mlnet.log</c> in its directory. Dispose the result to stop.
    /// </summary>
    /// <param name="run">The run (not a disabled one).</param>
    /// <param name="context">The MLContext whose <see cref="MLContext.Log"/> to follow.</param>
    /// <param name="minimum">The least severe kind kept; default <see cref="ChannelMessageKind.Info"/>.</param>
    /// <returns>A subscription that stops and closes the file when disposed.</returns>
    public static IDisposable ConnectLog(this Run run, MLContext context, ChannelMessageKind minimum = ChannelMessageKind.Info)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(context);
        var directory = run.Directory ?? throw new InvalidOperationException("A disabled run has no directory to keep the MLContext's log in.");
        var files = Path.Combine(directory, "files");
        Directory.CreateDirectory(files);
        return new LogSubscription(context, new StreamWriter(Path.Combine(files, "mlnet.log"), append: true) { AutoFlush = true }, minimum);
    }

    private static Dictionary<string, object?> Flatten(object metrics, string prefix)
    {
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in metrics.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var value = property.GetValue(metrics);
            switch (value)
            {
                case double or float or int or long:
                    values[Key(prefix, property.Name)] = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                    break;
                case IEnumerable list and not string when Numbers(list) is { } numbers:
                    for (var i = 0; i < numbers.Count; i++)
                    {
                        values[Key(prefix, $"{property.Name}/{i}")] = numbers[i];
                    }

                    break;
                default:
                    break; // confusion matrices and other objects are not numbers
            }
        }

        return values;
    }

    private static List<double>? Numbers(IEnumerable list)
    {
        var numbers = new List<double>();
        foreach (var item in list)
        {
            if (item is not (double or float or int or long))
            {
                return null;
            }

            numbers.Add(Convert.ToDouble(item, CultureInfo.InvariantCulture));
        }

        return numbers;
    }

    private static string Key(string prefix, string name) => string.IsNullOrEmpty(prefix) ? name : $"{prefix.TrimEnd('/')}/{name}";

    private sealed class LogSubscription : IDisposable
    {
        private readonly MLContext _context;
        private readonly StreamWriter _writer;
        private readonly ChannelMessageKind _minimum;
        private readonly object _gate = new();

        public LogSubscription(MLContext context, StreamWriter writer, ChannelMessageKind minimum)
        {
            (_context, _writer, _minimum) = (context, writer, minimum);
            _context.Log += OnLog;
        }

        public void Dispose()
        {
            _context.Log -= OnLog;
            lock (_gate)
            {
                _writer.Dispose();
            }
        }

        private void OnLog(object? sender, LoggingEventArgs e)
        {
            if (e.Kind < _minimum)
            {
                return;
            }

            lock (_gate)
            {
                _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:O} {e.Kind} {e.Source}: {e.RawMessage}"));
            }
        }
    }
}
