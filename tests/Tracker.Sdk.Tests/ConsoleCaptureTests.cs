namespace Tracker.Tests;

/// <summary>Console capture: the console still shows everything, and the run keeps it too.</summary>
[NonParallelizable] // the console is global
public sealed class ConsoleCaptureTests : RunTestBase
{
    [Test]
    public void CaptureConsole_KeepsOutAndErrorInOutputLogAndAsRecords_ThenPutsTheConsoleBack()
    {
        var (before, beforeError) = (Console.Out, Console.Error);
        var options = Options();
        options.CaptureConsole = true;
        var run = Run.Init(options);

        Console.WriteLine("epoch 1: loss 0.5");
        Console.Error.WriteLine("warning: slow disk");
        Console.Write("no newline at the end");
        run.Finish();
        Console.WriteLine("after the run");

        Assert.That(Console.Out, Is.SameAs(before));
        Assert.That(Console.Error, Is.SameAs(beforeError));
        var log = File.ReadAllText(Path.Combine(run.Directory!, "output.log"));
        Assert.That(log, Does.Contain("epoch 1: loss 0.5\n").And.Contain("warning: slow disk\n").And.Contain("no newline at the end"));
        Assert.That(log, Does.Not.Contain("after the run"));
        var records = Read(run).ReadRecords().Where(r => r.Type == "output").Select(r => r.Json).ToList();
        Assert.That(records, Has.Count.EqualTo(3));
        Assert.That(records[0], Does.Contain("\"stream\":\"stdout\"").And.Contain("\"line\":\"epoch 1: loss 0.5\""));
        Assert.That(records[1], Does.Contain("\"stream\":\"stderr\"").And.Contain("warning: slow disk"));
        Assert.That(records[2], Does.Contain("no newline at the end"));
        Assert.That(History(run), Is.Empty, "console lines are not history");
    }

    [Test]
    public void CaptureConsole_Off_WritesNoOutputLog()
    {
        var run = Run.Init(Options());
        Console.WriteLine("not kept");
        run.Finish();

        Assert.That(File.Exists(Path.Combine(run.Directory!, "output.log")), Is.False);
        Assert.That(Read(run).ReadRecords().Where(r => r.Type == "output"), Is.Empty);
    }
}
