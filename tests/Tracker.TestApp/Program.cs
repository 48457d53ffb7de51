using System.Globalization;
using Tracker;

// Usage: Tracker.TestApp <scenario> <dir> <steps>
//   unhandled  log <steps> points, then throw an unhandled exception
//   exit       log <steps> points, then return exit code 3 without calling Finish
//   finish     log <steps> points and finish normally
//   forever    log until killed (at most one minute), printing "logging" after <steps> points
var scenario = args[0];
var steps = int.Parse(args[2], CultureInfo.InvariantCulture);
var run = Run.Init(new RunOptions { Project = "process", Id = scenario, Dir = args[1], PrintSummary = false });
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

for (var i = 0; i < steps; i++)
{
    run.Log("loss", 1.0 / (i + 3));
}

Console.WriteLine("logged");
switch (scenario)
{
    case "unhandled":
        throw new InvalidOperationException("training diverged");
    case "exit":
        return 3;
    default:
        run.Finish();
        return 0;
}
