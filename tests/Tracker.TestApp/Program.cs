using System.Globalization;
using Tracker;

// Usage: Tracker.TestApp <scenario> <dir> <steps> [id]
//   unhandled  log <steps> points, then throw an unhandled exception
//   exit       log <steps> points, then return exit code 3 without calling Finish
//   finish     log <steps> points and finish normally
//   forever    log until killed (at most one minute), printing "logging" after <steps> points
//   wait       log <steps> points, print "logged", then wait to be killed (at most one minute)
//   resume     resume run [id] (made if missing), log <steps> points from its next step, flush, print "logged",
//              then wait for a line on stdin and finish; prints "refused: <message>" and returns 4 when Init refuses
//   joined     under tracker run: everything from the TRACKER_* variables it sets; log <steps> points,
//              print "logged" and finish (<dir> unused)
// The run id is [id] when given, else the scenario's name.
var scenario = args[0];
var steps = int.Parse(args[2], CultureInfo.InvariantCulture);
var id = args.Length > 3 ? args[3] : scenario;
Run run;
try
{
    run = scenario == "joined" ? Run.Init(new RunOptions { PrintSummary = false }) : Run.Init(new RunOptions
    {
        Project = "process", Id = id, Dir = args[1], PrintSummary = false,
        Resume = scenario == "resume" ? ResumeMode.Allow : null,
    });
}
catch (InvalidOperationException ex) when (scenario == "resume")
{
    Console.WriteLine($"refused: {ex.Message}");
    return 4;
}

if (scenario == "forever")
{
    var clock = System.Diagnostics.Stopwatch.StartNew();
    for (long i = 0; clock.Elapsed < TimeSpan.FromMinutes(1); i++)
    {
        run.Log("value", i);
        if (i == steps)
        {
            Console.WriteLine("logging");
        }
    }

    return 1;
}

var first = run.Step;
for (var i = 0; i < steps; i++)
{
    run.Log("loss", 1.0 / (first + i + 3));
}

if (scenario == "resume")
{
    run.Flush(TimeSpan.FromSeconds(30)); // written before it says so: readers look while it holds the run
}

Console.WriteLine("logged");
switch (scenario)
{
    case "unhandled":
        throw new InvalidOperationException("training diverged");
    case "exit":
        return 3;
    case "wait":
        Thread.Sleep(TimeSpan.FromMinutes(1));
        return 1;
    case "resume":
        Console.ReadLine();
        run.Finish();
        return 0;
    default:
        run.Finish();
        return 0;
}
