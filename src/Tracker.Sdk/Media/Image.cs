using System.Buffers;
using System.Globalization;
using Tracker.Internal;

namespace Tracker;

/// <summary>
/// An image to log at a step: PNG or JPEG bytes, a file, or raw pixels (encoded to PNG on the run's
/// writer thread, not the caller's). Checked when it is made, so a bad image fails at once with a
/// clear error and the run goes on. Saved as <c>media/&lt;sha256&gt;.png</c> (or <c>.jpg</c>) in the run.
/// </summary>
public sealed class Image : Media
{
    /// <summary>Most pixels an image may have (64 megapixels, 8,000 × 8,000).</summary>
    public const long MaxPixels = 64_000_000;

    private byte[]? _encoded;
    private byte[]? _pixels;
    private readonly int _channels;

    private Image(byte[]? encoded, byte[]? pixels, string format, int width, int height, int channels, string? caption)
    {
        _encoded = encoded;
        _pixels = pixels;
        Format = format;
        Width = width;
        Height = height;
        _channels = channels;
        Caption = caption;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>"png" or "jpeg".</summary>
    public string Format { get; }

    /// <summary>Text shown under the image, if any.</summary>
    public string? Caption { get; }

    internal override bool HasFile => true;

    internal override string Kind => "image";

    internal override long PendingBytes => IsMaterialized ? 0 : _pixels is not null ? (long)Width * Height * _channels : _encoded?.Length ?? 0;

    /// <summary>An image from the contents of a PNG or JPEG file.</summary>
    /// <param name="encoded">The file's bytes; copied, so the array may be reused.</param>
    /// <param name="caption">Text shown under the image.</param>
    /// <exception cref="ArgumentException">The bytes are empty, neither PNG nor JPEG, or the image is too large.</exception>
    public static Image FromBytes(ReadOnlySpan<byte> encoded, string? caption = null) => FromOwnedBytes(encoded.ToArray(), caption);

    private static Image FromOwnedBytes(byte[] encoded, string? caption)
    {
        if (encoded.Length == 0)
        {
            throw new ArgumentException("The image has no bytes. Pass the contents of a PNG or JPEG file, or use Image.FromPixels for raw pixels.", nameof(encoded));
        }

        if (encoded.Length > MediaFiles.MaxBytes)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The image file has {encoded.Length:N0} bytes; at most {MediaFiles.MaxBytes:N0} can be logged. Resize it or save it with more compression."),
                nameof(encoded));
        }

        var (format, width, height) = ImageHeader.Read(encoded)
            ?? throw new ArgumentException("The bytes are not a PNG or JPEG image (their header is neither). Convert the image to PNG, or pass raw pixels to Image.FromPixels.", nameof(encoded));
        CheckSize(width, height, nameof(encoded));
        return new Image(encoded, pixels: null, format, width, height, channels: 0, caption);
    }

    /// <summary>An image from a PNG or JPEG file, read now.</summary>
    /// <param name="path">The file.</param>
    /// <param name="caption">Text shown under the image.</param>
    /// <exception cref="ArgumentException">The file is empty, neither PNG nor JPEG, or too large.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Image FromFile(string path, string? caption = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var info = new FileInfo(path);
        if (info.Exists && info.Length > MediaFiles.MaxBytes)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The image file {path} has {info.Length:N0} bytes; at most {MediaFiles.MaxBytes:N0} can be logged. Resize it or save it with more compression."),
                nameof(path));
        }

        try
        {
            return FromOwnedBytes(File.ReadAllBytes(path), caption);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{path}: {ex.Message}", nameof(path), ex);
        }
    }

    /// <summary>
    /// An image from 8-bit pixels, row by row from the top, channels interleaved (HWC): 1 channel is
    /// gray, 2 gray and alpha, 3 RGB, 4 RGBA. Copied now; encoded to PNG when the run writes it.
    /// </summary>
    /// <param name="pixels">Exactly <paramref name="width"/> × <paramref name="height"/> × <paramref name="channels"/> bytes.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="channels">1, 2, 3 or 4.</param>
    /// <param name="caption">Text shown under the image.</param>
    /// <exception cref="ArgumentException">The sizes do not match the pixels, or the image is empty or too large.</exception>
    public static Image FromPixels(ReadOnlySpan<byte> pixels, int width, int height, int channels, string? caption = null)
    {
        CheckPixels(pixels.Length, width, height, channels, nameof(pixels));
        var copy = RentPixels(pixels.Length);
        pixels.CopyTo(copy);
        return new Image(encoded: null, copy, "png", width, height, channels, caption);
    }

    /// <summary>
    /// An image from floating-point pixels in [0, 1] (values outside are clamped, NaN is black), row
    /// by row from the top, channels interleaved (HWC), as a normalised tensor holds them.
    /// </summary>
    /// <param name="pixels">Exactly <paramref name="width"/> × <paramref name="height"/> × <paramref name="channels"/> values.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="channels">1, 2, 3 or 4.</param>
    /// <param name="caption">Text shown under the image.</param>
    /// <exception cref="ArgumentException">The sizes do not match the pixels, or the image is empty or too large.</exception>
    public static Image FromPixels(ReadOnlySpan<float> pixels, int width, int height, int channels, string? caption = null)
    {
        CheckPixels(pixels.Length, width, height, channels, nameof(pixels));
        var bytes = RentPixels(pixels.Length);
        for (var i = 0; i < pixels.Length; i++)
        {
            var value = pixels[i];
            bytes[i] = value >= 1 ? (byte)255 : value > 0 ? (byte)((value * 255) + 0.5f) : (byte)0;
        }

        return new Image(encoded: null, bytes, "png", width, height, channels, caption);
    }

    private protected override (byte[] Json, string? File) Write(string mediaDirectory)
    {
        var encoded = _encoded ?? PngEncoder.Encode(_pixels.AsSpan(0, Width * Height * _channels), Width, Height, _channels);
        var sha256 = MediaFiles.Write(mediaDirectory, encoded, MediaFiles.Extension(Format));
        if (_pixels is not null)
        {
            ArrayPool<byte>.Shared.Return(_pixels); // written: the run no longer holds the pixels
            _pixels = null;
        }

        _encoded = null;
        return (MediaFiles.Json(json =>
        {
            json.WriteString("_type", Kind);
            json.WriteString("sha256", sha256);
            json.WriteString("path", $"{RunFiles.MediaFolder}/{sha256}{MediaFiles.Extension(Format)}");
            json.WriteString("format", Format);
            json.WriteNumber("width", Width);
            json.WriteNumber("height", Height);
            json.WriteNumber("bytes", encoded.Length);
            if (Caption is not null)
            {
                json.WriteString("caption", Caption);
            }
        }), sha256 + MediaFiles.Extension(Format));
    }

    /// <summary>Pixels are held only until written: pooled, so an image every step does not churn the large-object heap.</summary>
    private static byte[] RentPixels(int length) => ArrayPool<byte>.Shared.Rent(length);

    private static void CheckPixels(int length, int width, int height, int channels, string paramName)
    {
        if (channels is < 1 or > 4)
        {
            throw new ArgumentException($"An image has 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA) channels, not {channels}.", nameof(channels));
        }

        CheckSize(width, height, paramName);
        var expected = (long)width * height * channels;
        if (length != expected)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"A {width} × {height} image with {channels} channels needs {expected:N0} values (width × height × channels, rows from the top, channels interleaved); got {length:N0}."),
                paramName);
        }
    }

    private static void CheckSize(int width, int height, string paramName)
    {
        if (width < 1 || height < 1)
        {
            throw new ArgumentException($"An image needs at least one pixel; this one is {width} × {height}.", paramName);
        }

        var pixels = (long)width * height;
        if (pixels > MaxPixels)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture,
                    $"The image is {width:N0} × {height:N0}, {pixels / 1e6:N1} megapixels; at most {MaxPixels / 1e6:N0} megapixels can be logged. Resize or crop it first: the run page shows images at screen size."),
                paramName);
        }
    }
}
