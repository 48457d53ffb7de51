namespace Tracker;

/// <summary>
/// What <see cref="TorchSharpRunExtensions.Watch"/> logs of a parameter or gradient tensor: its
/// L2 norm, mean, standard deviation, min and max, over the finite values, with how many were not
/// finite. Plain arithmetic on the values copied out of the tensor, so it is tested without libtorch.
/// </summary>
internal readonly record struct TensorStatistics(double Norm, double Mean, double Std, double Min, double Max, long NonFinite)
{
    public static TensorStatistics Of(ReadOnlySpan<float> values)
    {
        double sum = 0, sumSquares = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        long count = 0, nonFinite = 0;
        foreach (var value in values)
        {
            if (!float.IsFinite(value))
            {
                nonFinite++;
                continue;
            }

            count++;
            sum += value;
            sumSquares += (double)value * value;
            min = Math.Min(min, value);
            max = Math.Max(max, value);
        }

        if (count == 0)
        {
            return new TensorStatistics(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, nonFinite);
        }

        var mean = sum / count;
        var variance = Math.Max(0, (sumSquares / count) - (mean * mean));
        return new TensorStatistics(Math.Sqrt(sumSquares), mean, Math.Sqrt(variance), min, max, nonFinite);
    }

    /// <summary>The statistics as keys under <paramref name="prefix"/> (such as <c>gradients/fc1.weight</c>).</summary>
    public void AddTo(Dictionary<string, object?> values, string prefix)
    {
        values[$"{prefix}/norm"] = Norm;
        values[$"{prefix}/mean"] = Mean;
        values[$"{prefix}/std"] = Std;
        values[$"{prefix}/min"] = Min;
        values[$"{prefix}/max"] = Max;
        if (NonFinite > 0)
        {
            values[$"{prefix}/non_finite"] = (double)NonFinite;
        }
    }
}
