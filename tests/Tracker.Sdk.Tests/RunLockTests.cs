using System.Diagnostics;
using Tracker.Format;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>One writer per run: a second process, or a second open Run in this one, is refused by name and pid; readers are not.</summary>
public sealed class RunLockTests : RunTestBase
{
    [Test]
    public void SecondInit_OfAnOpenRunInThisProcess_IsRefusedUntilTheFirstFinishes()
    {
        var first = Run.Init(Options("shared"));
        first.Log("loss", 1.0);
        var resume = Options("shared");
        resume.Resume = ResumeMode.Allow;

        var refused = Assert.Throws<InvalidOperationException>(() => Run.Init(resume));

        Assert.That(refused!.Message, Does.Contain("'shared'").And.Contain("this process").And.Contain($"pid {Environment.ProcessId}"));
        first.Log("loss", 2.0); // the open run is untouched
        first.Finish();
        using var second = Run.Init(resume);
        second.Log("loss", 3.0);
        second.Finish();
        Assert.That(History(second).Select(r => r.Step), Is.EqualTo(new long[] { 0, 1, 2 }));
    }

    [Test]
    public void RefusedInit_OfANewRun_LeavesNoDirectoryBehind()
    {
        var options = Options("taken");
        options.Mode = RunMode.Online; // fails after the lock: no server URL
        var refused = Assert.Throws<ArgumentException>(() => Run.Init(options));

        Assert.That(refused!.Message, Does.Contain("Online mode needs a Tracker server"));
        Assert.That(Directory.Exists(Path.Combine(Root, "tests", "taken")), Is.False);
    }

    [Test]
    [Platform(Exclude = "MacOsX", Reason = "FileStream.Lock is not supported on macOS; the exclusive opening there cannot name the pid")]
    public async Task SecondProcess_OnTheSameRun_IsRefusedNamingTheHolder_AndResumesAfterIt()
    {
        var directory = Path.Combine(Root, "process", "shared");
        using var holder = Process.Start(TestApp.Start(Root, "resume", 1000, "shared"))!;
        try
        {
            await TestApp.WaitForLineAsync(holder, "logged");

            // Another process: refused, naming the run and the holder's pid; nothing written.
            var before = File.ReadAllBytes(Path.Combine(directory, RunFiles.RecordsFile));
            using (var second = Process.Start(TestApp.Start(Root, "resume", 1000, "shared"))!)
            {
                var output = await second.StandardOutput.ReadToEndAsync();
                await second.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                Assert.That(second.ExitCode, Is.EqualTo(4), output + await second.StandardError.ReadToEndAsync());
                Assert.That(output, Does.Contain("refused: Run 'shared'").And.Contain($"pid {holder.Id}"));
            }

            // This process too; and readers still read the open run, lock file included.
            var options = Options("shared");
            options.Project = "process";
            options.Resume = ResumeMode.Allow;
            var refused = Assert.Throws<InvalidOperationException>(() => Run.Init(options));
            Assert.That(refused!.Message, Does.Contain($"in another process (pid {holder.Id})"));
            Assert.That(RunReader.Open(directory).ReadHistory().Count(), Is.EqualTo(1000));
            Assert.That(File.ReadAllText(Path.Combine(directory, RunFiles.LockFile)).Trim(), Is.EqualTo(holder.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(File.ReadAllBytes(Path.Combine(directory, RunFiles.RecordsFile)), Is.EqualTo(before), "the refused processes wrote nothing");
        }
        finally
        {
            await holder.StandardInput.WriteLineAsync("finish");
            await holder.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }

        Assert.That(holder.ExitCode, Is.Zero);
        using (var next = Process.Start(TestApp.Start(Root, "resume", 1000, "shared"))!)
        {
            await TestApp.WaitForLineAsync(next, "logged");
            await next.StandardInput.WriteLineAsync("finish");
            await next.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.That(next.ExitCode, Is.Zero, "the finished holder released the run");
        }

        var reader = RunReader.Open(directory);
        Assert.That(reader.ReadHistory().Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, 2000).Select(i => (long)i)));
        var seqs = new RecordFile(Path.Combine(directory, RunFiles.RecordsFile)).Read().Select(r => r.Seq).ToList();
        Assert.That(seqs, Is.EqualTo(Enumerable.Range(1, seqs.Count).Select(i => (long)i)), "one writer at a time: no reused or missing seq");
        Assert.That(reader.SkippedLines, Is.Zero);
    }

    [Test]
    [Platform(Exclude = "MacOsX", Reason = "FileStream.Lock is not supported on macOS")]
    public async Task TwoProcessesResumingOneRunAtOnce_OneWritesTheOtherIsRefused()
    {
        // Started together: whichever locks first writes; the other is refused and writes nothing.
        var directory = Path.Combine(Root, "process", "race");
        using var a = Process.Start(TestApp.Start(Root, "resume", 50_000, "race"))!;
        using var b = Process.Start(TestApp.Start(Root, "resume", 50_000, "race"))!;
        var outputs = new List<string>();
        foreach (var p in new[] { a, b })
        {
            // Both answers first: the writer holds the run until told to finish, so the other cannot come after it.
            var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            outputs.Add(line ?? string.Empty);
        }

        foreach (var p in new[] { a, b })
        {
            try
            {
                await p.StandardInput.WriteLineAsync("finish");
            }
            catch (IOException)
            {
                // The refused one has exited: no one reads its input.
            }
        }

        await a.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await b.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(outputs.Count(o => o == "logged"), Is.EqualTo(1), string.Join(" | ", outputs));
        Assert.That(outputs.Count(o => o.StartsWith("refused: Run 'race'", StringComparison.Ordinal)), Is.EqualTo(1), string.Join(" | ", outputs));
        var reader = RunReader.Open(directory);
        Assert.That(reader.ReadHistory().Count(), Is.EqualTo(50_000));
        Assert.That(reader.SkippedLines, Is.Zero);
    }
}
