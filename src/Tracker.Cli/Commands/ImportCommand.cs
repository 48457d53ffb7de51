using System.CommandLine;
using System.Globalization;
using Tracker.Cli.Import;

namespace Tracker.Cli.Commands;

/// <summary><c>tracker import tensorboard DIR</c>: TensorBoard event files into local Tracker runs.</summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("DIR") { Description = "A TensorBoard log folder: each folder below it that holds events.out.tfevents.* files is one run." };
        var project = new Option<string>("--project") { Description = "Project of the imported runs (default: tensorboard).", DefaultValueFactory = _ => "tensorboard" };
        var dir = new Option<string>("--dir") { Description = "Runs root (default: TRACKER_DIR, then tracker.json, then ./tracker-runs).", DefaultValueFactory = _ => LocalRuns.DefaultDir };
        var tensorboard = new Command("tensorboard", "Import TensorBoard event files: scalars into history, histograms, images and text into media, hparams into config. Importing again adds only what the files gained.")
        {
            source, project, dir,
        };
        tensorboard.SetAction(r => TensorBoard(r.GetValue(source)!, r.GetValue(project)!, r.GetValue(dir)!));
        return new Command("import", "Import runs written by other tools.") { tensorboard };
    }

    private static int TensorBoard(string source, string project, string dir)
    {
        if (RecordRules.IdProblem(project, "project") is { } problem)
        {
            throw new UsageException(problem);
        }

        if (!Directory.Exists(source))
        {
            throw new CliException($"No folder {Path.GetFullPath(source)}: give the TensorBoard log folder (the --logdir TensorBoard was given).");
        }

        var runs = TensorBoardImport.FindRuns(source);
        if (runs.Count == 0)
        {
            throw new CliException($"No TensorBoard event files (events.out.tfevents.*) under {Path.GetFullPath(source)}.");
        }

        long corrupt = 0;
        foreach (var (folder, files) in runs)
        {
            var result = new TensorBoardImport().Import(source, folder, files, dir, project);
            corrupt += result.Corrupt;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Path.GetRelativePath(source, folder)} -> {project}/{result.RunId}: {result.Scalars:N0} scalars, {result.Histograms:N0} histograms, {result.Images:N0} images, {result.Texts:N0} texts, {result.HParams:N0} hparams; {result.Corrupt:N0} corrupt records skipped"));
            if (result.Skipped > 0)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {result.Skipped:N0} values not imported, such as:"));
                foreach (var line in result.Problems)
                {
                    Console.Error.WriteLine($"  {line}");
                }
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Imported {runs.Count:N0} runs into {Path.GetFullPath(Path.Combine(dir, project))}; {corrupt:N0} corrupt records (bad checksum) skipped."));
        return CliExit.Success;
    }
}
