using Tracker.Pipeline;

namespace Tracker.Tests;

public sealed class BackoffTests
{
    [Test]
    public void GetDelay_DoublesPerAttemptUpToTheCap()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), jitter: 0);

        Assert.That(Enumerable.Range(0, 6).Select(a => backoff.GetDelay(a).TotalMilliseconds), Is.EqualTo(new[] { 100.0, 200, 400, 800, 1000, 1000 }));
        Assert.That(backoff.GetDelay(int.MaxValue), Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public void GetDelay_JitterOnlyShortensWithinItsFraction()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), jitter: 0.25, new Random(7));
        var delays = Enumerable.Range(0, 1000).Select(_ => backoff.GetDelay(2).TotalMilliseconds).ToList();

        Assert.That(delays, Has.All.InRange(300.0, 400.0));
        Assert.That(delays.Distinct().Count(), Is.GreaterThan(100), "delays are spread, not in lock-step");
    }

    [Test]
    public void GetDelay_NegativeAttempt_Throws() =>
        Assert.That(() => Backoff.Default.GetDelay(-1), Throws.InstanceOf<ArgumentOutOfRangeException>());
}
