using System.Globalization;
using static TorchSharp.torch;

namespace Tracker;

/// <summary>
/// Tensors as media to log, as <c>wandb.Image(tensor)</c> and <c>wandb.Histogram(tensor)</c> take
/// them: <c>run.Log("samples", batch.ToImage())</c>, <c>run.Log("fc1/weights", weight.ToHistogram())</c>.
/// The values are copied off the device at the call, so the tensor may change or be disposed after.
/// </summary>
public static class TensorMediaExtensions
{
    /// <summary>
    /// An image of a tensor in PyTorch's layout: H×W is gray, C×H×W has 1 (gray), 2 (gray and alpha),
    /// 3 (RGB) or 4 (RGBA) channels, and N×C×H×W is a batch shown as one grid, 8 to a row (as
    /// torchvision's <c>make_grid</c>). <c>uint8</c> values are 0 to 255; floating-point and bool
    /// values are 0 to 1 (others are clamped, NaN is black), so normalise first:
    /// <c>(t - t.min()) / (t.max() - t.min())</c>.
    /// </summary>
    /// <param name="tensor">The image or images, on any device.</param>
    /// <param name="caption">Text shown under the image.</param>
    /// <returns>The image, encoded to PNG when the run writes it.</returns>
    /// <exception cref="ArgumentException">The shape is not an image's, the image would be too large, or the element type is neither <c>uint8</c>, floating-point nor bool.</exception>
    public static Image ToImage(this Tensor tensor, string? caption = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var layout = TensorImageLayout.Of(tensor.shape); // before copying: a wrong shape fails at once
        if (tensor.dtype == ScalarType.Byte)
        {
            return Image.FromPixels(layout.ToHwc<byte>(Values<byte>(tensor, ScalarType.Byte)), layout.ImageWidth, layout.ImageHeight, layout.Channels, caption);
        }

        if (tensor.is_floating_point() || tensor.dtype == ScalarType.Bool)
        {
            return Image.FromPixels(layout.ToHwc<float>(Values<float>(tensor, ScalarType.Float32)), layout.ImageWidth, layout.ImageHeight, layout.Channels, caption);
        }

        throw new ArgumentException(
            $"A tensor of {tensor.dtype} is not an image's pixels: the range of its values is unknown. Convert it to uint8 (0 to 255) with tensor.to_type(ScalarType.Byte), or to floating point in [0, 1].",
            nameof(tensor));
    }

    /// <summary>
    /// A histogram of a tensor's values, binned from their minimum to their maximum (as
    /// <see cref="Histogram.FromValues(ReadOnlySpan{double}, int)"/>); NaN and infinities are
    /// counted, not binned.
    /// </summary>
    /// <param name="tensor">Values of any shape and real element type, on any device.</param>
    /// <param name="bins">1 to <see cref="Histogram.MaxBins"/> bins.</param>
    /// <returns>The histogram.</returns>
    /// <exception cref="ArgumentException">The tensor is empty or complex, or the bin count is out of range.</exception>
    public static Histogram ToHistogram(this Tensor tensor, int bins = Histogram.DefaultBins)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (bins is < 1 or > Histogram.MaxBins)
        {
            // Checked here too, so a large tensor is not copied off the device only to be refused.
            throw new ArgumentOutOfRangeException(nameof(bins), bins, $"A histogram has 1 to {Histogram.MaxBins} bins.");
        }

        if (tensor.is_complex())
        {
            throw new ArgumentException($"A tensor of {tensor.dtype} has complex values, which a histogram cannot bin. Log a histogram of tensor.abs(), or of its real and imaginary parts.", nameof(tensor));
        }

        // Single precision holds half, bfloat16 and float values exactly; integers and doubles need double.
        return tensor.dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16
            ? Histogram.FromValues(Values<float>(tensor, ScalarType.Float32), bins)
            : Histogram.FromValues(Values<double>(tensor, ScalarType.Float64), bins);
    }

    /// <summary>The tensor's values, row-major, copied to the CPU as <typeparamref name="T"/>.</summary>
    internal static T[] Values<T>(Tensor tensor, ScalarType type)
        where T : unmanaged
    {
        var count = tensor.numel();
        if (count > Array.MaxLength)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The tensor has {count:N0} elements, more than one array can hold; log a sample of them."),
                nameof(tensor));
        }

        // The scope frees the copies made on the way (detached view, CPU copy, converted copy) now, not at finalisation.
        using var scope = NewDisposeScope();
        return tensor.detach().cpu().to_type(type).flatten().data<T>().ToArray();
    }
}
