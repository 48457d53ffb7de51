using Microsoft.Extensions.Time.Testing;
using Tracker.SystemMetrics;

namespace Tracker.Tests;

/// <summary>The system metrics sampler with a fake clock and fake probes, the parsers on recorded output, and one real sample.</summary>
public sealed class SystemMetricsTests : RunTestBase
{
    [Test]
    public async Task Run_SamplesOnItsIntervalAsSystemRecords_KeptOutOfHistoryAndSummary()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var cpu = 0.0;
        var options = Options();
        options.TimeProvider = time;
        options.SystemMetricsInterval = TimeSpan.FromSeconds(10);
        options.SystemProbes = [new FakeProbe(v => v["system/cpu"] = cpu += 10)];
        var run = Run.Init(options);
        run.Log("loss", 0.5);

        time.Advance(TimeSpan.FromSeconds(9));
        time.Advance(TimeSpan.FromSeconds(1)); // the first sample at 10 s
        time.Advance(TimeSpan.FromSeconds(10)); // the second at 20 s
        var finish = run.FinishAsync();
        for (var i = 0; i < 400 && !finish.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(5);
        }

        await finish;
        var system = Read(run).ReadRecords().Where(r => r.Type == "system").Select(r => r.Json).ToList();
        Assert.That(system, Has.Count.GreaterThanOrEqualTo(2), "a sample at 10 s and at 20 s");
        Assert.That(system[0], Does.Contain("\"step\":0").And.Contain("\"system/cpu\":10"));
        Assert.That(system[1], Does.Contain("\"step\":1").And.Contain("\"system/cpu\":20"));
        Assert.That(History(run).SelectMany(r => r.Values.Keys), Has.None.StartsWith("system/"), "not part of the run's steps");
        Assert.That(Read(run).ReadSummary().Keys, Has.None.StartsWith("system/"));
    }

    [Test]
    public void Sampler_AProbeThatThrows_IsReportedOnceAndLeftOut()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var samples = new List<IReadOnlyDictionary<string, double>>();
        var failures = new List<Exception>();
        using var sampler = new SystemSampler(
            [new FakeProbe(_ => throw new IOException("gone")), new FakeProbe(v => v["system/memory_rss_mb"] = 42)],
            TimeSpan.FromSeconds(5), time, s => samples.Add(new Dictionary<string, double>(s)), failures.Add);

        time.Advance(TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.That(samples, Has.Count.EqualTo(2));
        Assert.That(samples.Select(s => s["system/memory_rss_mb"]), Has.All.EqualTo(42));
        Assert.That(failures, Has.Count.EqualTo(1).And.All.Message.EqualTo("gone"));
    }

    [Test]
    public void Run_SystemMetricsOff_WritesNoSystemRecord()
    {
        var options = Options();
        options.SystemMetricsInterval = null;
        options.SystemProbes = [new FakeProbe(_ => Assert.Fail("no sample when turned off"))];
        var run = Run.Init(options);
        run.Finish();

        Assert.That(Read(run).ReadRecords().Where(r => r.Type == "system"), Is.Empty);
    }

    [Test]
    public void GpuProbe_ParsesRecordedNvidiaSmiOutput_LeavingOutUnsupportedFields()
    {
        // nvidia-smi --query-gpu=index,utilization.gpu,memory.used,temperature.gpu,power.draw --format=csv,noheader,nounits
        const string Recorded = "0, 87, 10240, 71, 245.31\n1, 3, 512, 38, [N/A]\n";
        var values = new Dictionary<string, double>();

        GpuProbe.Parse(Recorded, values);

        Assert.That(values, Is.EquivalentTo(new Dictionary<string, double>
        {
            ["system/gpu.0.util"] = 87, ["system/gpu.0.memory_mb"] = 10240, ["system/gpu.0.temp"] = 71, ["system/gpu.0.power_w"] = 245.31,
            ["system/gpu.1.util"] = 3, ["system/gpu.1.memory_mb"] = 512, ["system/gpu.1.temp"] = 38,
        }));
    }

    [Test]
    public void GpuProbe_WithoutNvidiaSmi_LogsNothingAndStopsAsking()
    {
        var asked = 0;
        var probe = new GpuProbe(() => { asked++; return null; });
        var values = new Dictionary<string, double>();

        probe.Sample(values);
        probe.Sample(values);

        Assert.That(values, Is.Empty);
        Assert.That(asked, Is.EqualTo(1));
        Assert.That(GpuProbe.RunNvidiaSmi("/nonexistent/nvidia-smi"), Is.Null);
    }

    [Test]
    public void MachineProbe_ParsesProcFiles()
    {
        const string Meminfo = "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   18000000 kB\n";
        const string NetDev = "Inter-|   Receive                                                |  Transmit\n"
            + " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
            + "    lo: 9999999    100    0    0    0     0          0         0  9999999     100    0    0    0     0       0          0\n"
            + "  eth0: 2000000   1500    0    0    0     0          0         0   500000    1200    0    0    0     0       0          0\n"
            + "  eth1: 1000000    500    0    0    0     0          0         0   250000     300    0    0    0     0       0          0\n";

        Assert.That(MachineProbe.Field(Meminfo, "MemTotal:"), Is.EqualTo(24000000.0 * 1024));
        Assert.That(MachineProbe.Field(Meminfo, "MemAvailable:"), Is.EqualTo(18000000.0 * 1024));
        Assert.That(MachineProbe.Network(NetDev), Is.EqualTo((3000000.0, 750000.0)), "loopback is left out");
    }

    [Test]
    public void RealProbes_OnThisMachine_GiveProcessAndMachineMetrics()
    {
        var values = new Dictionary<string, double>();
        var process = new ProcessProbe();
        Thread.Sleep(50);
        process.Sample(values);
        new MachineProbe(Path.GetTempPath()).Sample(values);

        Assert.That(values["system/memory_rss_mb"], Is.GreaterThan(1));
        Assert.That(values["system/cpu"], Is.InRange(0, 100));
        Assert.That(values["system/disk_percent"], Is.InRange(0, 100));
        if (OperatingSystem.IsLinux())
        {
            Assert.That(values["system/memory_percent"], Is.InRange(0, 100));
            Assert.That(values.Keys, Does.Contain("system/disk_write_mb"));
        }
    }

    [Test]
    public void ProcessTree_CountsTheMemoryOfChildrenAndGrandchildren()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/bin/bash"))
        {
            Assert.Ignore("The process tree is read from /proc, on Linux; the child is a bash script.");
        }

        // A grandchild (the subshell) holds 100 MB of text until it is killed; `tracker run` measures a program like this.
        using var child = System.Diagnostics.Process.Start("/bin/bash", ["-c", "(x=$(head -c 100000000 /dev/zero | tr '\\0' a); sleep 60) & wait"]);
        try
        {
            var tree = new ProcessProbe(tree: true);
            var alone = new ProcessProbe();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            double difference;
            do
            {
                Thread.Sleep(200);
                var withTree = new Dictionary<string, double>();
                var withoutTree = new Dictionary<string, double>();
                tree.Sample(withTree);
                alone.Sample(withoutTree);
                difference = withTree["system/memory_rss_mb"] - withoutTree["system/memory_rss_mb"];
            }
            while (difference < 90 && DateTime.UtcNow < deadline);

            Assert.That(difference, Is.GreaterThanOrEqualTo(90), "the tree's resident memory holds the grandchild's 100 MB");
        }
        finally
        {
            child.Kill(entireProcessTree: true);
        }
    }

    private sealed class FakeProbe(Action<IDictionary<string, double>> sample) : ISystemProbe
    {
        public void Sample(IDictionary<string, double> values) => sample(values);
    }
}
