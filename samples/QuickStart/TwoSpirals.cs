namespace QuickStart;

/// <summary>One labelled point of the data set.</summary>
internal readonly record struct Sample(double X, double Y, int Label);

/// <summary>Two interleaved spirals: a classic problem that no linear model can solve.</summary>
internal static class TwoSpirals
{
    /// <summary>Makes <paramref name="count"/> points, half on each spiral, with Gaussian noise.</summary>
    public static Sample[] Generate(int count, double turns, double noise, Random random)
    {
        var samples = new Sample[count];
        for (var i = 0; i < count; i++)
        {
            var label = i % 2;
            // The square root spreads points evenly along the arm instead of crowding the centre.
            var t = Math.Sqrt(random.NextDouble());
            var angle = t * turns * 2 * Math.PI + (label * Math.PI);
            samples[i] = new Sample(
                (t * Math.Cos(angle)) + (noise * Gaussian(random)),
                (t * Math.Sin(angle)) + (noise * Gaussian(random)),
                label);
        }

        return samples;
    }

    // Box-Muller transform; 1 - NextDouble() keeps the logarithm's argument above zero.
    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
