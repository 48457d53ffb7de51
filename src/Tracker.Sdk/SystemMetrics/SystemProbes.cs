using System.Diagnostics;
using System.Globalization;
using Tracker.Internal;

namespace Tracker.SystemMetrics;

/// <summary>One source of system metrics: adds its current values, by key, to a sample.</summary>
internal interface ISystemProbe
{
    void Sample(IDictionary<string, double> values);
}

/// <summary>The process: CPU use (percent of all cores, since the last sample) and resident memory.</summary>
internal sealed class ProcessProbe : ISystemProbe
{
    private readonly Process _process = Process.GetCurrentProcess();
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private TimeSpan _lastCpu;
    private TimeSpan _lastWall;

    public ProcessProbe()
    {
        _lastCpu = _process.TotalProcessorTime;
    }

    public void Sample(IDictionary<string, double> values)
    {
        _process.Refresh();
        var cpu = _process.TotalProcessorTime;
        var wall = _wall.Elapsed;
        var elapsed = (wall - _lastWall).TotalSeconds * Environment.ProcessorCount;
        if (elapsed > 0)
        {
            values["system/cpu"] = Math.Round(100 * (cpu - _lastCpu).TotalSeconds / elapsed, 2);
        }

        (_lastCpu, _lastWall) = (cpu, wall);
        values["system/memory_rss_mb"] = Math.Round(_process.WorkingSet64 / 1048576.0, 1);
    }
}

/// <summary>
/// The machine, from Linux's /proc: memory used, the process's disk reads and writes, network
/// traffic (since the run started, all interfaces but loopback), and how full the run's disk is.
/// Elsewhere only the disk usage is sampled.
/// </summary>
internal sealed class MachineProbe(string runDirectory) : ISystemProbe
{
    private (double Read, double Write)? _firstIo;
    private (double Received, double Sent)? _firstNet;

    public void Sample(IDictionary<string, double> values)
    {
        if (ReadProc("/proc/meminfo") is { } meminfo && Field(meminfo, "MemTotal:") is > 0 and var total && Field(meminfo, "MemAvailable:") is { } available)
        {
            values["system/memory_percent"] = Math.Round(100 * (total - available) / total, 2);
        }

        if (ReadProc("/proc/self/io") is { } io && Field(io, "read_bytes:") is { } read && Field(io, "write_bytes:") is { } written)
        {
            _firstIo ??= (read, written);
            values["system/disk_read_mb"] = Math.Round((read - _firstIo.Value.Read) / 1048576.0, 2);
            values["system/disk_write_mb"] = Math.Round((written - _firstIo.Value.Write) / 1048576.0, 2);
        }

        if (ReadProc("/proc/net/dev") is { } dev && Network(dev) is { } net)
        {
            _firstNet ??= net;
            values["system/network_recv_mb"] = Math.Round((net.Received - _firstNet.Value.Received) / 1048576.0, 2);
            values["system/network_sent_mb"] = Math.Round((net.Sent - _firstNet.Value.Sent) / 1048576.0, 2);
        }

        try
        {
            var drive = new DriveInfo(Path.GetPathRoot(Path.GetFullPath(runDirectory))!);
            if (drive.TotalSize > 0)
            {
                values["system/disk_percent"] = Math.Round(100.0 * (drive.TotalSize - drive.AvailableFreeSpace) / drive.TotalSize, 2);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Not every file system reports its size.
        }
    }

    /// <summary>A <c>Name: value</c> field of a /proc file, in bytes (kB fields are converted).</summary>
    internal static double? Field(string text, string name)
    {
        var at = text.IndexOf(name, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var rest = text.AsSpan(at + name.Length);
        var end = rest.IndexOf('\n');
        var parts = (end < 0 ? rest : rest[..end]).Trim().ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length > 0 && double.TryParse(parts[0], CultureInfo.InvariantCulture, out var value)
            ? value * (parts.Length > 1 && parts[1] == "kB" ? 1024 : 1)
            : null;
    }

    /// <summary>Bytes received and sent by every interface but loopback, from /proc/net/dev.</summary>
    internal static (double Received, double Sent)? Network(string dev)
    {
        double received = 0, sent = 0;
        var any = false;
        foreach (var line in dev.Split('\n').Skip(2))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || line[..colon].Trim() == "lo")
            {
                continue;
            }

            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 9 && double.TryParse(fields[0], CultureInfo.InvariantCulture, out var r) && double.TryParse(fields[8], CultureInfo.InvariantCulture, out var s))
            {
                (received, sent, any) = (received + r, sent + s, true);
            }
        }

        return any ? (received, sent) : null;
    }

    private static string? ReadProc(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>
/// NVIDIA GPUs through <c>nvidia-smi</c>: utilisation, memory used, temperature and power per GPU,
/// as <c>system/gpu.N.util</c> and so on. Without nvidia-smi (no GPU) it turns itself off after the first try.
/// </summary>
internal sealed class GpuProbe(Func<string?> query) : ISystemProbe
{
    public const string QueryArguments = "--query-gpu=index,utilization.gpu,memory.used,temperature.gpu,power.draw --format=csv,noheader,nounits";

    private bool _absent;

    public void Sample(IDictionary<string, double> values)
    {
        if (_absent)
        {
            return;
        }

        if (query() is not { } csv)
        {
            _absent = true;
            return;
        }

        Parse(csv, values);
    }

    /// <summary>Lines such as <c>0, 87, 10240, 71, 245.31</c>; "[N/A]" and "[Not Supported]" fields are left out.</summary>
    internal static void Parse(string csv, IDictionary<string, double> values)
    {
        string[] names = ["util", "memory_mb", "temp", "power_w"];
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(',', StringSplitOptions.TrimEntries);
            if (fields.Length != names.Length + 1 || !int.TryParse(fields[0], CultureInfo.InvariantCulture, out var index))
            {
                continue;
            }

            for (var i = 0; i < names.Length; i++)
            {
                if (double.TryParse(fields[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    values[$"system/gpu.{index}.{names[i]}"] = value;
                }
            }
        }
    }

    /// <summary>Runs nvidia-smi; null when it is missing or fails.</summary>
    public static string? RunNvidiaSmi(string program = "nvidia-smi") =>
        EnvironmentInfo.Run(program, Environment.CurrentDirectory, QueryArguments.Split(' '));
}
