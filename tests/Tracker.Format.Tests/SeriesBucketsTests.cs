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
}
