namespace Tracker.Tests;

/// <summary>Every double written to records.jsonl must read back bit for bit.</summary>
public sealed class NumberRoundTripTests : RunTestBase
{
    [Test]
    public void Log_AnyDouble_ReadsBackBitForBit()
    {
        var random = new Random(12345);
        var values = new List<double>
        {
            0.0, -0.0, 1, -1, 0.5, -0.5, 0.1, 0.001, -0.001, 0.0005, 123.456, -123.456, 1e14, 1e15, 1e16, -1e14 - 0.125,
            999_999_999_999.999, 1.0 / 3, 2.0 / 3, double.Epsilon, -double.Epsilon, double.MaxValue, double.MinValue,
            1e-300, 1e300, 4.9406564584124654E-324, 2.2250738585072014E-308, 9007199254740993, 0.1 + 0.2,
        };
        for (var i = 0; i < 20_000; i++)
        {
            values.Add(random.Next(-1_000_000, 1_000_000) / 1000.0);             // short decimals
            values.Add(random.Next(-1_000_000, 1_000_000) / 1024.0);             // binary fractions
            values.Add((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-20, 20)));
            values.Add(BitConverter.Int64BitsToDouble(random.NextInt64()) is var d && double.IsFinite(d) ? d : 1.5);
        }

        var run = Run.Init(Options());
        foreach (var value in values)
        {
            run.Log("x", value);
        }

        run.Finish();

        var read = History(run).Select(r => (double)r.Values["x"]!).ToList();
        Assert.That(read, Has.Count.EqualTo(values.Count));
        for (var i = 0; i < values.Count; i++)
        {
            Assert.That(BitConverter.DoubleToInt64Bits(read[i]), Is.EqualTo(BitConverter.DoubleToInt64Bits(values[i])), $"value {values[i]:R} at {i}");
        }
    }
}
