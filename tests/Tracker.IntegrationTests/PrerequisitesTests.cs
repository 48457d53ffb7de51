using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>The decision behind the suite's own set-up: install when root with apt-get, otherwise say in one line what to install.</summary>
[TestFixture]
public sealed class PrerequisitesTests
{
    private static readonly Prerequisite Chromium = new("chromium", "/usr/bin/chromium", () => false);
    private static readonly Prerequisite Postgres = new("postgresql", "the PostgreSQL server binaries", () => false);

    [Test]
    public void Plan_NothingMissing_DoesNothing(
        [Values] bool isRoot,
        [Values] bool hasAptGet)
    {
        var plan = Prerequisites.Plan([], isRoot, hasAptGet);

        Assert.That(plan.Install, Is.Empty);
        Assert.That(plan.CannotInstall, Is.Null);
    }

    [Test]
    public void Plan_RootWithAptGet_InstallsEveryMissingPackageInOneGo()
    {
        var plan = Prerequisites.Plan([Chromium, Postgres], isRoot: true, hasAptGet: true);

        Assert.That(plan.Install, Is.EqualTo(new[] { "chromium", "postgresql" }));
        Assert.That(plan.CannotInstall, Is.Null);
    }

    [Test]
    public void Plan_NotRoot_SaysInOneLineWhatToInstallWithSudo()
    {
        var plan = Prerequisites.Plan([Chromium, Postgres], isRoot: false, hasAptGet: true);

        Assert.That(plan.Install, Is.Empty);
        Assert.That(plan.CannotInstall, Is.EqualTo(
            "Tracker.IntegrationTests: /usr/bin/chromium and the PostgreSQL server binaries are missing and cannot be installed here (not root): "
            + "sudo apt-get install chromium postgresql; the tests that need them are skipped."));
    }

    [Test]
    public void Plan_RootWithoutAptGet_SaysInOneLineWhatToInstall()
    {
        var plan = Prerequisites.Plan([Chromium], isRoot: true, hasAptGet: false);

        Assert.That(plan.Install, Is.Empty);
        Assert.That(plan.CannotInstall, Is.EqualTo(
            "Tracker.IntegrationTests: /usr/bin/chromium is missing and cannot be installed here (no apt-get): "
            + "install Debian's chromium or your system's equivalent; the tests that need it are skipped."));
        Assert.That(plan.CannotInstall, Does.Not.Contain('\n'));
    }

    [Test]
    public void Required_TrackerTestPostgresSet_NeedsOnlyChromium()
    {
        Assert.That(Prerequisites.Required("Host=127.0.0.1;Port=5432").Select(p => p.Package), Is.EqualTo(new[] { "chromium" }));
        Assert.That(Prerequisites.Required(null).Select(p => p.Package), Is.EqualTo(new[] { "chromium", "postgresql" }));
        Assert.That(Prerequisites.Required(string.Empty).Select(p => p.Package), Is.EqualTo(new[] { "chromium", "postgresql" }));
    }
}
