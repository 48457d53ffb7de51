using System.Text;
using Google.Protobuf;
using Tracker.Extensions.TensorBoard.Protos;
using Tracker.Extensions.TensorBoard.Protos.HParams;
using DataType = Tracker.Extensions.TensorBoard.Protos.DataType;

namespace Tracker.Extensions.TensorBoard;

/// <summary>
/// Events for the values TensorBoard's plugins show, shaped as PyTorch's <c>SummaryWriter</c> writes
/// them: scalars as <c>simple_value</c>, histograms as <c>HistogramProto</c>, images as
/// <c>Summary.Image</c>, text as a DT_STRING tensor of the <c>text</c> plugin, and hyperparameters
/// as the <c>hparams</c> plugin's session start info.
/// </summary>
internal static class EventSummaries
{
    /// <summary>The plugin names TensorBoard dispatches on.</summary>
    public const string TextPlugin = "text";

    /// <inheritdoc cref="TextPlugin"/>
    public const string HParamsPlugin = "hparams";

    /// <summary>The tag of the hparams plugin's session start info (hyperparameter values).</summary>
    public const string SessionStartInfoTag = "_hparams_/session_start_info";

    /// <summary>A scalar (float32, as TensorBoard keeps it).</summary>
    public static Event Scalar(string tag, float value, long step, double wallTime) =>
        One(step, wallTime, ScalarValue(tag, value));

    /// <summary>A scalar's summary value, for an Event that holds several values of one step.</summary>
    public static Summary.Types.Value ScalarValue(string tag, float value) => new() { Tag = tag, SimpleValue = value };

    /// <summary>A histogram: <paramref name="edges"/> are the n + 1 edges, <paramref name="counts"/> the n counts.</summary>
    public static Event Histogram(string tag, IReadOnlyList<double> edges, IReadOnlyList<double> counts, long step, double wallTime)
    {
        ArgumentNullException.ThrowIfNull(edges);
        ArgumentNullException.ThrowIfNull(counts);
        if (edges.Count != counts.Count + 1)
        {
            throw new ArgumentException($"A histogram has one more edge than counts; got {edges.Count} edges and {counts.Count} counts.", nameof(edges));
        }

        var histogram = new HistogramProto { Min = edges[0], Max = edges[^1], Num = counts.Sum() };
        histogram.BucketLimit.Add(edges.Skip(1));
        histogram.Bucket.Add(counts);
        return One(step, wallTime, new Summary.Types.Value { Tag = tag, Histo = histogram });
    }

    /// <summary>An encoded image (PNG) of <paramref name="width"/> x <paramref name="height"/> pixels with <paramref name="channels"/> channels.</summary>
    public static Event Image(string tag, ReadOnlySpan<byte> encoded, int width, int height, int channels, long step, double wallTime) =>
        One(step, wallTime, new Summary.Types.Value
        {
            Tag = tag,
            Image = new Summary.Types.Image { Width = width, Height = height, Colorspace = channels, EncodedImageString = ByteString.CopyFrom(encoded) },
        });

    /// <summary>A text, for the text plugin (Markdown in TensorBoard).</summary>
    public static Event Text(string tag, string text, long step, double wallTime)
    {
        var tensor = new TensorProto { Dtype = DataType.DtString, TensorShape = new TensorShapeProto() };
        tensor.TensorShape.Dim.Add(new TensorShapeProto.Types.Dim { Size = 1 });
        tensor.StringVal.Add(ByteString.CopyFromUtf8(text));
        return One(step, wallTime, new Summary.Types.Value { Tag = tag, Tensor = tensor, Metadata = Plugin(TextPlugin, ByteString.Empty) });
    }

    /// <summary>
    /// Hyperparameter values as the hparams plugin's session start info: numbers, strings, booleans
    /// and nulls as themselves; lists and objects (which the plugin has no kind for) as their JSON text.
    /// </summary>
    public static Event HParams(IReadOnlyDictionary<string, object?> values, double wallTime)
    {
        ArgumentNullException.ThrowIfNull(values);
        var start = new SessionStartInfo { StartTimeSecs = wallTime };
        foreach (var (name, value) in values)
        {
            start.Hparams[name] = value switch
            {
                bool b => Google.Protobuf.WellKnownTypes.Value.ForBool(b),
                string s => Google.Protobuf.WellKnownTypes.Value.ForString(s),
                null => Google.Protobuf.WellKnownTypes.Value.ForNull(),
                double or float or long or int or ulong or uint or short or ushort or byte or sbyte or decimal
                    => Google.Protobuf.WellKnownTypes.Value.ForNumber(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
                _ => Google.Protobuf.WellKnownTypes.Value.ForString(Tracker.Format.RecordValue.ToJson(value)),
            };
        }

        var content = new HParamsPluginData { Version = 0, SessionStartInfo = start }.ToByteString();
        return One(0, wallTime, new Summary.Types.Value
        {
            Tag = SessionStartInfoTag,
            Metadata = Plugin(HParamsPlugin, content),
            Tensor = new TensorProto { Dtype = DataType.DtFloat, TensorShape = new TensorShapeProto() },
        });
    }

    /// <summary>The texts of a DT_STRING tensor, UTF-8, joined by newlines.</summary>
    public static string TensorText(TensorProto tensor) =>
        string.Join('\n', tensor.StringVal.Select(s => Encoding.UTF8.GetString(s.Span)));

    private static SummaryMetadata Plugin(string name, ByteString content) =>
        new() { PluginData = new SummaryMetadata.Types.PluginData { PluginName = name, Content = content } };

    private static Event One(long step, double wallTime, Summary.Types.Value value)
    {
        var summary = new Summary();
        summary.Value.Add(value);
        return new Event { Step = step, WallTime = wallTime, Summary = summary };
    }
}
