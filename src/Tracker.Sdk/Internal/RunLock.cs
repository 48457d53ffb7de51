using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;

namespace Tracker.Internal;

/// <summary>
/// One writer per run directory: an OS lock on <see cref="RunFiles.LockFile"/>, held from
/// <c>Run.Init</c> to the end of <c>Finish</c> and dropped by the OS when the process dies, so a
/// crashed writer never leaves a run locked. Two writers of one run would interleave lines and reuse
/// sequence numbers.
/// </summary>
internal sealed class RunLock : IDisposable
{
    // The locked byte lies past the holder's pid, so the pid stays readable where locks are mandatory (Windows).
    private const long LockedByte = 4096;

    // POSIX record locks do not exclude the process that holds them, so the process keeps its own list.
    private static readonly ConcurrentDictionary<string, byte> HeldHere = new(StringComparer.Ordinal);

    private readonly string _path;
    private readonly FileStream _file;

    private RunLock(string path, FileStream file)
    {
        _path = path;
        _file = file;
    }

    /// <summary>Takes the run directory's lock (the directory must exist).</summary>
    /// <exception cref="InvalidOperationException">Another process, or another open Run of this process, holds the run.</exception>
    public static RunLock Acquire(string directory, string id)
    {
        var path = Path.GetFullPath(Path.Combine(directory, RunFiles.LockFile));
        if (!HeldHere.TryAdd(path, 0))
        {
            throw new InvalidOperationException(
                $"Run '{id}' in {directory} is already open in this process (pid {Environment.ProcessId}): one Run object writes a run at a time. Finish or dispose the open Run first, or use another id.");
        }

        FileStream? file = null;
        try
        {
            file = Open(path);
            if (file is null || !TryLock(file))
            {
                throw new InvalidOperationException(
                    $"Run '{id}' in {directory} is open in another process ({(file is null ? "its pid cannot be read on this system" : Holder(file))}): one process writes a run at a time, or their records would mix. Wait for that process to finish or stop it, or use another id.");
            }

            file.SetLength(0);
            file.Write(Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"));
            return new RunLock(path, file);
        }
        catch
        {
            file?.Dispose();
            HeldHere.TryRemove(path, out _);
            throw;
        }
    }

    /// <summary>Releases the lock: the run may be opened again, here or elsewhere.</summary>
    public void Dispose()
    {
        if (HeldHere.TryRemove(_path, out _))
        {
            try
            {
                _file.SetLength(0); // a pid left behind would name a process that no longer holds the run
            }
            catch (IOException)
            {
                // Released all the same when the file closes.
            }

            _file.Dispose();
        }
    }

    /// <summary>The lock file, opened; null when another process holds it where the opening itself is the lock.</summary>
    private static FileStream? Open(string path)
    {
        if (!ByteLocks)
        {
            // FileStream.Lock is not supported there: an exclusive opening (flock) is the lock, and the pid cannot be read.
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
            }
            catch (IOException) when (File.Exists(path))
            {
                return null;
            }
        }

        // Shared opening: the refused process may read the pid; the byte lock is what excludes.
        return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
    }

    [UnsupportedOSPlatformGuard("macos")]
    [UnsupportedOSPlatformGuard("ios")]
    [UnsupportedOSPlatformGuard("tvos")]
    [UnsupportedOSPlatformGuard("maccatalyst")]
    private static bool ByteLocks =>
        !(OperatingSystem.IsMacOS() || OperatingSystem.IsIOS() || OperatingSystem.IsTvOS() || OperatingSystem.IsMacCatalyst());

    private static bool TryLock(FileStream file)
    {
        if (!ByteLocks)
        {
            return true; // opened exclusively
        }

        try
        {
            file.Lock(LockedByte, 1);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string Holder(FileStream file)
    {
        var buffer = new byte[32];
        var read = 0;
        try
        {
            file.Position = 0;
            read = file.Read(buffer);
        }
        catch (IOException)
        {
            // The pid is only for the message.
        }

        var text = Encoding.ASCII.GetString(buffer, 0, read).Trim();
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? $"pid {pid}" : "its pid is not written yet";
    }
}
