namespace Tracker.Format.Tests;

public sealed class SeriesBucketsTests
{
    [Test]
    public void GrowingBuckets_KeepEverySpike()
    {
        var buckets = new GrowingBuckets(10);
        for (var step = 0; step < 100_000; step++)
        {
            buckets.Add(step, step == 54_321 ? 1e9 : step % 7);
        }

        Assert.That(buckets.Buckets.Count, Is.InRange(10, 20));
        Assert.That(buckets.Buckets.Max(b => b.Max), Is.EqualTo(1e9));
        Assert.That(buckets.Buckets.Sum(b => b.Count), Is.EqualTo(100_000));
        Assert.That(buckets.Buckets[^1].LastX, Is.EqualTo(99_999));
        Assert.That(buckets.Buckets[^1].Last, Is.EqualTo(99_999 % 7));
    }

    [Test]
    public void BucketGrid_ExtremeRange_DoesNotOverflow()
    {
        var grid = new BucketGrid(long.MinValue / 2, long.MaxValue / 2, 1000);
        Assert.That(grid.Buckets, Has.Length.LessThanOrEqualTo(1000));
        grid[0].Add(0, 1.0);
        Assert.That(grid.Buckets.Sum(b => b.Count), Is.EqualTo(1));
    }

    [Test]
    public void Bucket_SkipsNaNInMinAndMax_ButCountsIt()
    {
        var bucket = default(SeriesBucket);
        bucket.Add(1, double.NaN);
        bucket.Add(2, 5.0);
        Assert.That((bucket.Count, bucket.Min, bucket.Max, bucket.Last, bucket.FirstX, bucket.LastX), Is.EqualTo((2L, 5.0, 5.0, 5.0, 1L, 2L)));
    }

    [Test]
    public void StepValues_TakeTheValueAtTheStepOrCarryTheLastForward_NoneBeforeTheFirstPoint()
    {
        var values = new StepValues([5, 10, 12, 20, 20, 35, 99]);
        foreach (var (step, value) in new[] { (10L, 1.0), (12L, 2.0), (12L, 2.5), (19L, 3.0), (30L, 4.0) })
        {
            values.Add(step, value);
        }

        double? At(int i) => values.TryGet(i, out var v) ? v : null;
        Assert.That(Enumerable.Range(0, 7).Select(At), Is.EqualTo(new double?[] { null, 1.0, 2.5, 3.0, 3.0, 4.0, 4.0 }));

        values.Add(50, 5.0); // reading does not stop adding
        Assert.That(Enumerable.Range(0, 7).Select(At), Is.EqualTo(new double?[] { null, 1.0, 2.5, 3.0, 3.0, 4.0, 5.0 }));
    }

    [Test]
    public void StepValues_EpochEveryStep_ValAccEveryThousandth_PairsEachWithItself()
    {
        // val/acc = step / 1000 at steps 999, 1999, ...; epoch = step / 1000 at every step.
        var valAcc = new GrowingBuckets(5);
        for (var step = 999; step < 20_000; step += 1000)
        {
            valAcc.Add(step, step / 1000.0);
        }

        var buckets = valAcc.Buckets.Where(b => b.Count > 0).ToList();
        var epoch = new StepValues([.. buckets.Select(b => b.LastX)]);
        for (var step = 0; step < 20_000; step++)
        {
            epoch.Add(step, step / 1000.0);
        }

        Assert.That(buckets.Select((b, i) => epoch.TryGet(i, out var x) ? x : double.NaN), Is.EqualTo(buckets.Select(b => b.Last)));
    }

    [Test]
    public void StepValues_StepsOutOfOrder_Throw() =>
        Assert.Throws<ArgumentException>(() => _ = new StepValues([2, 1]));
}
