using System.Globalization;

namespace Tracker;

/// <summary>
/// How an image tensor's shape becomes an image, as <c>wandb.Image</c> and TensorBoard's
/// <c>add_image</c> read PyTorch tensors: H×W is gray, C×H×W has 1 to 4 channels, and N×C×H×W is a
/// batch laid out as torchvision's <c>make_grid</c> does (8 to a row, 2 black pixels around each).
/// Plain arithmetic on the shape and the copied values, so it is tested without libtorch.
/// </summary>
internal readonly record struct TensorImageLayout(int Count, int Channels, int Height, int Width)
{
    public const int GridColumns = 8;
    public const int Padding = 2;

    private int Columns => Math.Min(Count, GridColumns);

    private int Rows => (Count + Columns - 1) / Columns;

    /// <summary>Width of the image made: one image's, or the grid's.</summary>
    public int ImageWidth => Count == 1 ? Width : (Columns * (Width + Padding)) + Padding;

    /// <summary>Height of the image made.</summary>
    public int ImageHeight => Count == 1 ? Height : (Rows * (Height + Padding)) + Padding;

    /// <summary>The layout of a tensor of this shape; checked before any value is copied off the device.</summary>
    /// <exception cref="ArgumentException">The shape is not an image's, or the image would be empty or too large.</exception>
    public static TensorImageLayout Of(ReadOnlySpan<long> shape)
    {
        var (count, channels, height, width) = shape.Length switch
        {
            2 => (1L, 1L, shape[0], shape[1]),
            3 => (1L, shape[0], shape[1], shape[2]),
            4 => (shape[0], shape[1], shape[2], shape[3]),
            _ => throw new ArgumentException(
                $"A tensor of shape [{Format(shape)}] is not an image: log H×W (gray), C×H×W (1 to 4 channels) or N×C×H×W (a batch, shown as a grid).",
                nameof(shape)),
        };

        if (channels is < 1 or > 4)
        {
            var hint = shape.Length == 3 && shape[2] is >= 1 and <= 4
                ? " It looks like H×W×C: pass tensor.permute(2, 0, 1)."
                : string.Empty;
            throw new ArgumentException(
                $"A tensor of shape [{Format(shape)}] has {channels} channels; an image tensor is C×H×W (or N×C×H×W) with 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA) channels.{hint}",
                nameof(shape));
        }

        if (count < 1 || height < 1 || width < 1)
        {
            throw new ArgumentException($"A tensor of shape [{Format(shape)}] has no pixels.", nameof(shape));
        }

        // In doubles: a batch of huge images would overflow a long before the check could refuse it.
        var columns = Math.Min(count, GridColumns);
        var rows = Math.Ceiling((double)count / columns);
        var pixels = count == 1
            ? (double)height * width
            : ((columns * ((double)width + Padding)) + Padding) * ((rows * ((double)height + Padding)) + Padding);
        if (pixels > Image.MaxPixels)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture,
                    $"A tensor of shape [{Format(shape)}] makes an image of {pixels / 1e6:N1} megapixels; at most {Image.MaxPixels / 1e6:N0} megapixels can be logged. Log fewer images of the batch, or resize them (nn.functional.interpolate)."),
                nameof(shape));
        }

        return new TensorImageLayout((int)count, (int)channels, (int)height, (int)width);
    }

    /// <summary>
    /// Rearranges the tensor's values (N×C×H×W order, N and C possibly 1) into rows of interleaved
    /// channels (HWC), as <see cref="Image.FromPixels(ReadOnlySpan{byte}, int, int, int, string?)"/> takes them.
    /// </summary>
    public T[] ToHwc<T>(ReadOnlySpan<T> values)
        where T : struct
    {
        var plane = Height * Width;
        if (values.Length != (long)Count * Channels * plane)
        {
            throw new ArgumentException($"The layout {Count}×{Channels}×{Height}×{Width} needs {(long)Count * Channels * plane} values; got {values.Length}.", nameof(values));
        }

        var imageWidth = ImageWidth;
        var pixels = new T[imageWidth * ImageHeight * Channels]; // the grid's padding stays 0: black, or transparent
        var offset = Count == 1 ? 0 : Padding;
        for (var n = 0; n < Count; n++)
        {
            var left = offset + (n % GridColumns * (Width + Padding));
            var top = offset + (n / GridColumns * (Height + Padding));
            for (var c = 0; c < Channels; c++)
            {
                var source = values.Slice(((n * Channels) + c) * plane, plane);
                for (var y = 0; y < Height; y++)
                {
                    var target = ((((top + y) * imageWidth) + left) * Channels) + c;
                    for (var x = 0; x < Width; x++)
                    {
                        pixels[target + (x * Channels)] = source[(y * Width) + x];
                    }
                }
            }
        }

        return pixels;
    }

    /// <summary>A shape as PyTorch prints its sizes, for messages.</summary>
    public static string Format(ReadOnlySpan<long> shape)
    {
        var parts = new string[shape.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            parts[i] = shape[i].ToString(CultureInfo.InvariantCulture);
        }

        return string.Join(", ", parts);
    }
}
