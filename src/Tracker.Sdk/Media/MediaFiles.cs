using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tracker.Internal;

/// <summary>
/// The run's <c>media/</c> folder: files named by the SHA-256 of their bytes, so the same image
/// logged at many steps (or by many runs) is one file, and the server can deduplicate by name.
/// </summary>
internal static class MediaFiles
{
    /// <summary>Most bytes one media file may have; the server's default body limit.</summary>
    public const int MaxBytes = 32 * 1024 * 1024;

    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Copies a media file into another run's folder unless it is there (same name, same bytes).</summary>
    public static void Copy(string source, string mediaDirectory)
    {
        var path = Path.Combine(mediaDirectory, Path.GetFileName(source));
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(mediaDirectory);
            var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            File.Copy(source, temporary);
            Publish(temporary, path);
        }
    }

    /// <summary>Writes <paramref name="content"/> as <c>&lt;sha256&gt;&lt;extension&gt;</c> unless it is there; returns the hash.</summary>
    public static string Write(string mediaDirectory, ReadOnlySpan<byte> content, string extension)
    {
        var sha256 = Sha256Hex(content);
        var path = Path.Combine(mediaDirectory, sha256 + extension);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(mediaDirectory);
            var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            // No fsync: records.jsonl, which names the file, is not synced per batch either.
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                stream.Write(content);
            }

            Publish(temporary, path);
        }

        return sha256;
    }

    /// <summary>Renames a finished temporary file into place; one written meanwhile has the same bytes.</summary>
    private static void Publish(string temporary, string path)
    {
        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The SHA-256 of <paramref name="content"/> in lower-case hex, as media files and blobs are named.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> content)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(content, hash);
        Span<char> hex = stackalloc char[64];
        for (var i = 0; i < hash.Length; i++)
        {
            hex[2 * i] = "0123456789abcdef"[hash[i] >> 4];
            hex[(2 * i) + 1] = "0123456789abcdef"[hash[i] & 0xF];
        }

        return new string(hex);
    }

    /// <summary>The file extension of a media file, by kind and format.</summary>
    public static string Extension(string format) => format switch
    {
        "png" => ".png",
        "jpeg" => ".jpg",
        _ => ".table.json",
    };

    /// <summary>Writes one JSON object with <paramref name="write"/> and returns its bytes.</summary>
    public static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
