namespace Tracker.Format.Tests;

public sealed class SparklineTests
{
    [Test]
    public void Render_RisingValues_GoFromLowestToHighestBar()
    {
        Assert.That(Sparkline.Render([0, 1, 2, 3, 4, 5, 6, 7]), Is.EqualTo("▁▂▃▄▅▆▇█"));
    }

    [Test]
    public void Render_MoreSamplesThanWidth_ResamplesToWidth()
    {
        var samples = Enumerable.Range(0, 1000).Select(i => (double)i).ToArray();

        Assert.That(Sparkline.Render(samples), Has.Length.EqualTo(Sparkline.DefaultWidth));
        Assert.That(Sparkline.Render(samples, width: 5), Has.Length.EqualTo(5));
    }

    [Test]
    public void Render_NaNAndFlatAndEmpty_AreSpacesLowestBarsAndNothing()
    {
        Assert.That(Sparkline.Render([1, double.NaN, 1]), Is.EqualTo("▁ ▁"));
        Assert.That(Sparkline.Render([]), Is.Empty);
    }
}
