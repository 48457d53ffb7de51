using Tracker.Settings;

namespace Tracker.Tests.Settings;

[NonParallelizable] // points XDG_CONFIG_HOME at a temporary folder
public sealed class CredentialsTests
{
    private string _root = string.Empty;
    private string? _savedXdg;

    [SetUp]
    public void PointConfigAtATempFolder()
    {
        _root = Directory.CreateTempSubdirectory("tracker-credentials").FullName;
        _savedXdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        Environment.SetEnvironmentVariable("XDG_CONFIG_HOME", _root);
    }

    [TearDown]
    public void Restore()
    {
        Environment.SetEnvironmentVariable("XDG_CONFIG_HOME", _savedXdg);
        Directory.Delete(_root, recursive: true);
    }

    [Test]
    public void Store_KeyedByServer_TrailingSlashAndHostCaseIgnored()
    {
        var path = Credentials.Store(new Uri("http://LOCALHOST:5080/"), "trk_a");
        Credentials.Store(new Uri("http://other:5080"), "trk_b");

        Assert.That(path, Is.EqualTo(Path.Combine(_root, "tracker", "credentials.json")));
        Assert.That(Credentials.FindKey(new Uri("http://localhost:5080")), Is.EqualTo("trk_a"));
        Assert.That(Credentials.FindKey(new Uri("http://other:5080/")), Is.EqualTo("trk_b"));
        Assert.That(Credentials.FindKey(new Uri("http://localhost:5081")), Is.Null);
    }

    [Test]
    public void Store_AgainReplacesTheKey_RemoveTakesOnlyThatServer()
    {
        var server = new Uri("http://127.0.0.1:5080");
        Credentials.Store(server, "trk_old");
        Credentials.Store(server, "trk_new");
        Credentials.Store(new Uri("http://kept:1"), "trk_kept");

        Assert.That(Credentials.FindKey(server), Is.EqualTo("trk_new"));
        Assert.That(Credentials.Remove(server), Is.True);
        Assert.That(Credentials.Remove(server), Is.False, "nothing left to remove");
        Assert.That(Credentials.FindKey(server), Is.Null);
        Assert.That(Credentials.FindKey(new Uri("http://kept:1")), Is.EqualTo("trk_kept"));
    }

    [Test]
    public void Store_FileReadableByItsOwnerOnly()
    {
        var path = Credentials.Store(new Uri("http://127.0.0.1:5080"), "trk_a");

        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }

        Assert.That(Directory.GetFiles(Path.GetDirectoryName(path)!), Is.EqualTo(new[] { path }), "no temporary file left behind");
    }

    [Test]
    public void FindKey_NoFile_Null() =>
        Assert.That(Credentials.FindKey(new Uri("http://127.0.0.1:5080")), Is.Null);

    [Test]
    public void FindKey_FileNotJson_ThrowsNamingItAndHowToFixIt()
    {
        Directory.CreateDirectory(Path.Combine(_root, "tracker"));
        File.WriteAllText(Path.Combine(_root, "tracker", "credentials.json"), "not json");

        var error = Assert.Throws<ArgumentException>(() => Credentials.FindKey(new Uri("http://127.0.0.1:5080")));

        Assert.That(error!.Message, Does.Contain("credentials.json").And.Contain("tracker login"));
    }
}
