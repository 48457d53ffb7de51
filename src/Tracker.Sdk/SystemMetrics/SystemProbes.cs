using System.Diagnostics;
using System.Globalization;
using Tracker.Internal;

namespace Tracker.SystemMetrics;

/// <summary>One source of system metrics: adds its current values, by key, to a sample.</summary>
internal interface ISystemProbe
{
    void Sample(IDictionary<string, double> values);
}

/// <summary>
/// The process, or the process and its descendants: CPU use (percent of all cores, since the
/// last sample) and resident memory. Descendants are found on Linux only (<c>/proc</c>).
/// </summary>
internal sealed class ProcessProbe : ISystemProbe
{
    private readonly int _root;
    private readonly bool _tree;
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly Dictionary<int, TimeSpan> _lastCpu = [];
    private TimeSpan _lastWall;

    public ProcessProbe(bool tree = false)
    {
        _root = Environment.ProcessId;
        _tree = tree;
        foreach (var (pid, cpu, _) in Read())
        {
            _lastCpu[pid] = cpu;
        }
    }

    public void Sample(IDictionary<string, double> values)
    {
        var processes = Read();
        var wall = _wall.Elapsed;
        var elapsed = (wall - _lastWall).TotalSeconds * Environment.ProcessorCount;

        // Per process, so that one which ended since the last sample does not take its CPU time away.
        var used = TimeSpan.Zero;
        foreach (var (pid, cpu, _) in processes)
        {
            used += cpu - _lastCpu.GetValueOrDefault(pid);
        }

        if (elapsed > 0)
        {
            values["system/cpu"] = Math.Round(100 * Math.Max(0, used.TotalSeconds) / elapsed, 2);
        }

        _lastCpu.Clear();
        foreach (var (pid, cpu, _) in processes)
        {
            _lastCpu[pid] = cpu;
        }

        _lastWall = wall;
        if (processes.Count > 0)
        {
            values["system/memory_rss_mb"] = Math.Round(processes.Sum(p => p.Rss) / 1048576.0, 1);
        }
    }

    /// <summary>The root process and, for a tree, its descendants: id, CPU time, resident bytes. Ended ones are left out.</summary>
    private List<(int Pid, TimeSpan Cpu, long Rss)> Read()
    {
        var result = new List<(int, TimeSpan, long)>();
        foreach (var pid in _tree ? Tree(_root) : [_root])
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                result.Add((pid, process.TotalProcessorTime, process.WorkingSet64));
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Ended between listing and reading.
            }
        }

        return result;
    }

    /// <summary>The process and its descendants, from each process's parent id in /proc/PID/stat.</summary>
    private static List<int> Tree(int root)
    {
        var found = new List<int> { root };
        if (!OperatingSystem.IsLinux())
        {
            return found;
        }

        var children = new Dictionary<int, List<int>>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(entry, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 3);
                if (fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent))
                {
                    (children.TryGetValue(parent, out var list) ? list : children[parent] = []).Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Ended while listed.
            }
        }

        for (var i = 0; i < found.Count; i++)
        {
            if (children.TryGetValue(found[i], out var list))
            {
                found.AddRange(list);
            }
        }

        return found;
    }
}

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
