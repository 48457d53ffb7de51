using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Tracker.Format;
using Tracker.Internal;
using Tracker.Reading;

namespace Tracker.Tests;

/// <summary>run.json's compile-time metadata writes and reads exactly what reflection does.</summary>
public sealed class RunJsonContextTests
{
    private static readonly RunInfo Full = new()
    {
        Id = "k3v9x0qa",
        Project = "quickstart",
        Name = "brisk-river-3",
        Tags = ["sample", "ünïcode"],
        Notes = "line\nbreak",
        Group = "sweep",
        JobType = "train",
        Mode = RunMode.Online,
        Config = new Dictionary<string, object?> { ["lr"] = 0.05, ["epochs"] = 10L, ["name"] = "x", ["nan"] = double.NaN, ["flag"] = true, ["none"] = null, ["list"] = new List<object?> { 1L, "a" } },
        Metrics = [new MetricDefinition("val/*", "epoch", SummaryMode.Best, MetricGoal.Minimize)],
        Host = "host",
        Os = "Linux",
        DotnetVersion = ".NET 10",
        CommandLine = "train --fast",
        EntryAssembly = "Train 1.0.0.0",
        CpuModel = "CPU",
        CpuCount = 2,
        Gpus = ["NVIDIA H200"],
        Libraries = new Dictionary<string, string> { ["TorchSharp"] = "0.105.0" },
        Git = new GitInfo("0123456789abcdef0123456789abcdef01234567", "main", "https://git.example.com/m.git", Dirty: true),
        SdkVersion = "1.0.0",
        StartTime = new DateTimeOffset(2026, 11, 27, 0, 10, 0, TimeSpan.Zero),
        EndTime = new DateTimeOffset(2026, 11, 27, 0, 12, 0, TimeSpan.FromHours(1)),
        State = RunStates.Failed,
        ExitCode = 3,
        Error = "boom",
        Resumed = 2,
    };

    private static readonly JsonSerializerOptions ByReflection = new(Json.Options) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

    [TestCase(true)]
    [TestCase(false)]
    public void Serialize_RunInfo_SameBytesAsReflection(bool indented)
    {
        var options = new JsonSerializerOptions(ByReflection) { WriteIndented = indented };

        Assert.That(Json.Serialize(Full, indented), Is.EqualTo(JsonSerializer.SerializeToUtf8Bytes(Full, options)));
        Assert.That(Json.Serialize(new RunInfo { Id = "a", Project = "b", Name = "c" }, indented), Is.EqualTo(JsonSerializer.SerializeToUtf8Bytes(new RunInfo { Id = "a", Project = "b", Name = "c" }, options)));
    }

    [Test]
    public void Deserialize_RunInfo_SameAsReflection()
    {
        var bytes = Json.Serialize(Full, indented: true);

        var generated = JsonSerializer.Deserialize<RunInfo>(bytes, Json.Options)!;
        var reflected = JsonSerializer.Deserialize<RunInfo>(bytes, ByReflection)!;

        Assert.That(Json.Serialize(generated), Is.EqualTo(Json.Serialize(reflected)));
        Assert.That(generated.Git, Is.EqualTo(Full.Git));
        Assert.That(generated.Metrics.ToList(), Is.EqualTo(Full.Metrics.ToList()));
        Assert.That((double)generated.Config["nan"]!, Is.NaN);
        Assert.That(generated.Mode, Is.EqualTo(RunMode.Online));
    }
}
