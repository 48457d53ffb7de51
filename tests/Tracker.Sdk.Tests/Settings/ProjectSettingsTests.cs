using Tracker.Settings;

namespace Tracker.Tests.Settings;

public sealed class ProjectSettingsTests
{
    private string _root = string.Empty;

    [SetUp]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("tracker-settings").FullName;

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    [Test]
    public void Find_FileInAParent_FoundWithDirRelativeToIt()
    {
        File.WriteAllText(Path.Combine(_root, ProjectSettings.FileName), """{"project": "mnist", "server": "http://127.0.0.1:5080", "dir": "runs"}""");
        var deep = Directory.CreateDirectory(Path.Combine(_root, "a", "b")).FullName;

        var settings = ProjectSettings.Find(deep);

        Assert.That(settings, Is.Not.Null);
        Assert.That(settings!.Project, Is.EqualTo("mnist"));
        Assert.That(settings.Server, Is.EqualTo(new Uri("http://127.0.0.1:5080")));
        Assert.That(settings.FullDir, Is.EqualTo(Path.Combine(_root, "runs")));
        Assert.That(settings.FilePath, Is.EqualTo(Path.Combine(_root, ProjectSettings.FileName)));
    }

    [Test]
    public void Find_NearestFileWins()
    {
        File.WriteAllText(Path.Combine(_root, ProjectSettings.FileName), """{"project": "outer"}""");
        var inner = Directory.CreateDirectory(Path.Combine(_root, "inner")).FullName;
        File.WriteAllText(Path.Combine(inner, ProjectSettings.FileName), """{"project": "inner"}""");

        Assert.That(ProjectSettings.Find(inner)!.Project, Is.EqualTo("inner"));
    }

    [TestCase("""{"project": "a b"}""", "project")]
    [TestCase("""{"server": "127.0.0.1:5080"}""", "not an absolute http or https URL")]
    [TestCase("""{"server": "ftp://host"}""", "not an absolute http or https URL")]
    [TestCase("""{"dir": 3}""", "'dir' must be a string")]
    [TestCase("""{"dir": ""}""", "dir must not be empty")]
    [TestCase("""{"base_url": "http://x"}""", "'base_url' is not a setting; the settings are project, server and dir")]
    [TestCase("""["mnist"]""", "must hold a JSON object")]
    [TestCase("""{"project": """, "not valid JSON")]
    public void Read_InvalidFile_ThrowsNamingTheFileAndTheProblem(string content, string problem)
    {
        var path = Path.Combine(_root, ProjectSettings.FileName);
        File.WriteAllText(path, content);

        var error = Assert.Throws<ArgumentException>(() => ProjectSettings.Read(path));

        Assert.That(error!.Message, Does.Contain(path).And.Contain(problem));
    }

    [Test]
    public void Write_ReadsBackAndRefusesToReplaceUnlessAsked()
    {
        var path = Path.Combine(_root, ProjectSettings.FileName);
        new ProjectSettings { Project = "p", Server = new Uri("https://tracker.example.com/"), Dir = "runs" }.Write(path, overwrite: false);

        var read = ProjectSettings.Read(path);
        Assert.That((read.Project, read.Server, read.Dir), Is.EqualTo(("p", new Uri("https://tracker.example.com/"), "runs")));
        Assert.Throws<IOException>(() => new ProjectSettings { Project = "q" }.Write(path, overwrite: false));
        Assert.That(ProjectSettings.Read(path).Project, Is.EqualTo("p"));

        new ProjectSettings { Project = "q" }.Write(path, overwrite: true);
        Assert.That(ProjectSettings.Read(path).Server, Is.Null);
    }
}
