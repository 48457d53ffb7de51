namespace Tracker.Format.Tests;

public sealed class RulesAndFilesTests
{
    [TestCase("", "empty")]
    [TestCase("a\0b", "control character")]
    [TestCase("_step", "reserved")]
    [TestCase("a//b", "empty path segment")]
    public void KeyProblem_NamesWhatIsWrong(string key, string words) =>
        Assert.That(RecordRules.KeyProblem(key, metric: true), Does.Contain(words));

    [Test]
    public void KeyProblem_TooLong_SaysTheLimit() =>
        Assert.That(RecordRules.KeyProblem(new string('k', 257), metric: false), Does.Contain("at most 256"));

    [Test]
    public void NormalizeTags_TrimsAndKeepsEachOnceInOrder() =>
        Assert.That(RecordRules.NormalizeTags([" b ", "a", "b", "a "]), Is.EqualTo(new[] { "b", "a" }));

    [TestCase("")]
    [TestCase("  ")]
    [TestCase(null)]
    public void NormalizeTags_BlankTag_IsNull(string? blank) => Assert.That(RecordRules.NormalizeTags(["ok", blank]), Is.Null);

    [TestCase("..")]
    [TestCase("a/b")]
    [TestCase("")]
    [TestCase("x\0")]
    public void IdProblem_RefusesWhatCannotBeAFolder(string id) => Assert.That(RecordRules.IdProblem(id, "run id"), Is.Not.Null);

    [Test]
    public void PathIn_RefusesWaysOut()
    {
        var run = Directory.CreateTempSubdirectory("tracker-pathin").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(run, "media"));
            File.WriteAllText(Path.Combine(run, "media", "a.png"), "x");
            Assert.That(RunFiles.PathIn(run, "media/a.png"), Is.EqualTo(Path.Combine(run, "media", "a.png")));
            Assert.That(RunFiles.PathIn(run, "../outside.png"), Is.Null);
            Assert.That(RunFiles.PathIn(run, "/etc/passwd"), Is.Null);
            Assert.That(RunFiles.PathIn(run, "media/a\0.png"), Is.Null);
            foreach (var control in new[] { "\u0001", "\t", "\n", "\r", "\u001f", "\u007f", "\u0085" })
            {
                Assert.That(RunFiles.PathIn(run, $"media/a{control}.png"), Is.Null, $"U+{(int)control[0]:X4} in a name");
            }

            var outside = Directory.CreateTempSubdirectory("tracker-outside").FullName;
            File.WriteAllText(Path.Combine(outside, "secret.png"), "s");
            File.CreateSymbolicLink(Path.Combine(run, "media", "link.png"), Path.Combine(outside, "secret.png"));
            Directory.CreateSymbolicLink(Path.Combine(run, "linked"), outside);
            Assert.That(RunFiles.PathIn(run, "media/link.png"), Is.Null, "a file link out of the run");
            Assert.That(RunFiles.PathIn(run, "linked/secret.png"), Is.Null, "a folder link out of the run");
            File.CreateSymbolicLink(Path.Combine(run, "media", "hop.png"), Path.Combine(run, "media", "link.png"));
            Assert.That(RunFiles.PathIn(run, "media/hop.png"), Is.Null, "a link inside the run to a link out of it");
            File.CreateSymbolicLink(Path.Combine(run, "media", "relative.png"), Path.Combine("..", "..", Path.GetFileName(outside), "secret.png"));
            Assert.That(RunFiles.PathIn(run, "media/relative.png"), Is.Null, "a relative link out of the run");
            File.CreateSymbolicLink(Path.Combine(run, "media", "inside.png"), Path.Combine(run, "media", "a.png"));
            Assert.That(RunFiles.PathIn(run, "media/inside.png"), Is.EqualTo(Path.Combine(run, "media", "inside.png")), "a link that stays inside is followed");
            Directory.Delete(outside, recursive: true);
        }
        finally
        {
            Directory.Delete(run, recursive: true);
        }
    }
}

public sealed class RecordFileTests
{
    [Test]
    public void Read_TornCorruptReplayedAndOverlongLines_AreCountedAndSkipped()
    {
        var path = Path.GetTempFileName();
        try
        {
            using (var file = new StreamWriter(path))
            {
                file.Write("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"x\":1.0}}\n");
                file.Write("{\"seq\":2,\"type\":\"history\",\"step\":1,\"ts\":1,\"values\":{\"t\":\"");
                file.Write(new string('a', RecordRules.MaxLineBytes * 2 + 100)); // no record is this long
                file.Write("\"}}\n");
                file.Write("not json\n");
                file.Write("{\"seq\":1,\"type\":\"history\",\"step\":0,\"ts\":1,\"values\":{\"x\":9.0}}\n"); // a replay
                file.Write("{\"seq\":3,\"type\":\"history\",\"step\":2,\"ts\":1,\"values\":{\"x\":3.0}}\n");
                file.Write("{\"seq\":4,\"type\":\"hist"); // torn
            }

            var records = new RecordFile(path);
            var read = records.Read().ToList();
            Assert.That(read.Select(r => r.Seq), Is.EqualTo(new long[] { 1, 3 }));
            Assert.That(records.SkippedLines, Is.EqualTo(4));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
