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
            "Tracker.IntegrationTests: skipping the tests that need /usr/bin/chromium and the PostgreSQL server binaries: "
            + "missing, and not installable here (not root); to run them: sudo apt-get install chromium postgresql"));
    }

    [Test]
    public void Plan_RootWithoutAptGet_SaysInOneLineWhatToInstall()
    {
        var plan = Prerequisites.Plan([Chromium], isRoot: true, hasAptGet: false);

        Assert.That(plan.Install, Is.Empty);
        Assert.That(plan.CannotInstall, Is.EqualTo(
            "Tracker.IntegrationTests: skipping the tests that need /usr/bin/chromium: "
            + "missing, and not installable here (no apt-get); to run them: install Debian's chromium or your system's equivalent"));
        Assert.That(plan.CannotInstall, Does.Not.Contain('\n'));
    }

    [Test]
    public void Required_TrackerTestPostgresSet_NeedsOnlyChromium()
    {
        Assert.That(Prerequisites.Required("Host=127.0.0.1;Port=5432").Select(p => p.Package), Is.EqualTo(new[] { "chromium" }));
        Assert.That(Prerequisites.Required(null).Select(p => p.Package), Is.EqualTo(new[] { "chromium", "postgresql" }));
        Assert.That(Prerequisites.Required(string.Empty).Select(p => p.Package), Is.EqualTo(new[] { "chromium", "postgresql" }));
    }

    [Test]
    public void FileExists_SymbolicLinkWhoseTargetIsGone_IsFalse()
    {
        var directory = Directory.CreateTempSubdirectory("tracker-prerequisites").FullName;
        try
        {
            var target = Path.Combine(directory, "initdb-real");
            var link = Path.Combine(directory, "initdb");
            File.WriteAllText(target, "#!/bin/sh");
            File.CreateSymbolicLink(link, target);
            Assert.That(Prerequisites.FileExists(link), Is.True);

            File.Delete(target); // as /usr/local/bin/initdb once the postgresql package is removed

            Assert.That(File.Exists(link), Is.True, "File.Exists alone would take the package as installed");
            Assert.That(Prerequisites.FileExists(link), Is.False);
            Assert.That(Prerequisites.FileExists(Path.Combine(directory, "absent")), Is.False);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
