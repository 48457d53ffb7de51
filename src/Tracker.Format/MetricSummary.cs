using System.Runtime.CompilerServices;

namespace Tracker.Format;

/// <summary>
/// One metric's running summary, by its <see cref="SummaryMode"/>: first, last, min, max and mean,
/// NaN skipped alike by min, max, mean and best (as numpy's <c>nanmin</c>, <c>nanmax</c>, <c>nanmean</c>).
/// Values keep their type: integers stay integers, text and booleans are the summary when they were
/// logged last. Adding a value ends a summary override of the key (<see cref="Overridden"/>).
/// Not thread-safe: the owner serialises calls.
/// </summary>
public sealed class MetricSummary
{
    private Scalar _first;
    private Scalar _last;
    private long _numbers;
    private double _sum;
    private double _min = double.NaN;
    private double _max = double.NaN;
    private bool _onlyIntegers = true;
    private Int128 _minInteger = Int128.MaxValue; // wide enough for long and ulong alike
    private Int128 _maxInteger = Int128.MinValue;

    /// <summary>How the summary value is computed.</summary>
    public SummaryMode Kind { get; set; }

    /// <summary>For <see cref="SummaryMode.Best"/>: whether smaller or larger is better.</summary>
    public MetricGoal Goal { get; set; }

    /// <summary>Values added, of any type.</summary>
    public long Count { get; private set; }

    /// <summary>Whether the user overrode this key's summary since it was last logged.</summary>
    public bool Overridden { get; set; }

    /// <summary>Adds a double (NaN and infinities included).</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    public void Add(double value)
    {
        Observe(new Scalar(ScalarKind.Double, value, 0, null));
        if (!double.IsNaN(value))
        {
            AddNumber(value);
            _onlyIntegers = false;
        }
    }

    /// <summary>Adds an integer, kept exact.</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    public void Add(long value)
    {
        Observe(new Scalar(ScalarKind.Int64, value, value, null));
        AddNumber(value);
        _minInteger = Int128.Min(_minInteger, value);
        _maxInteger = Int128.Max(_maxInteger, value);
    }

    /// <summary>Adds any plain value: a double, long, ulong, bool or string (see <see cref="RecordValue"/>).</summary>
    /// <param name="value">The value; null is ignored.</param>
    public void Add(object? value)
    {
        switch (value)
        {
            case double d: Add(d); break;
            case long l: Add(l); break;
            case ulong ul: Add(ul); break;
            case bool b: Add(b); break;
            case string s: Add(s); break;
            default: break;
        }
    }

    /// <summary>Adds an unsigned integer, kept exact.</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    public void Add(ulong value)
    {
        Observe(new Scalar(ScalarKind.UInt64, value, unchecked((long)value), null));
        AddNumber(value);
        _minInteger = Int128.Min(_minInteger, value);
        _maxInteger = Int128.Max(_maxInteger, value);
    }

    /// <summary>Adds a boolean: a summary value of its own kind, not a number.</summary>
    /// <param name="value">The value.</param>
    public void Add(bool value) => Observe(new Scalar(ScalarKind.Bool, value ? 1 : 0, 0, null));

    /// <summary>Adds text: a summary value of its own kind, not a number.</summary>
    /// <param name="value">The value.</param>
    public void Add(string value) => Observe(new Scalar(ScalarKind.Text, double.NaN, 0, value));

    /// <summary>The summary value, or false when the kind is <see cref="SummaryMode.None"/> or nothing was added.</summary>
    /// <param name="value">A plain value: double, long, ulong, bool or string.</param>
    /// <returns>Whether there is a value.</returns>
    public bool TryGetValue(out object? value)
    {
        value = null;
        if (Kind == SummaryMode.None || Count == 0)
        {
            return false;
        }

        if (_last.Kind is ScalarKind.Bool or ScalarKind.Text)
        {
            value = _last.ToObject(); // text and flags are summarised by their last value
            return true;
        }

        var best = Kind == SummaryMode.Best ? (Goal == MetricGoal.Maximize ? SummaryMode.Max : SummaryMode.Min) : Kind;
        value = best switch
        {
            SummaryMode.First => _first.ToObject(),
            SummaryMode.Min => _onlyIntegers && _numbers > 0 ? Exact(_minInteger) : _min,
            SummaryMode.Max => _onlyIntegers && _numbers > 0 ? Exact(_maxInteger) : _max,
            SummaryMode.Mean => _numbers == 0 ? double.NaN : _sum / _numbers,
            _ => _last.ToObject(),
        };
        return true;
    }

    /// <summary>The state, to be saved and restored (<see cref="RunFold.Save()"/>).</summary>
    internal (Scalar First, Scalar Last, long Count, long Numbers, double Sum, double Min, double Max, bool OnlyIntegers, Int128 MinInteger, Int128 MaxInteger) State
    {
        get => (_first, _last, Count, _numbers, _sum, _min, _max, _onlyIntegers, _minInteger, _maxInteger);
        set => (_first, _last, Count, _numbers, _sum, _min, _max, _onlyIntegers, _minInteger, _maxInteger) = value;
    }

    /// <summary>An integer as the format keeps it: a long, or a ulong above <see cref="long.MaxValue"/>; null outside both.</summary>
    internal static object? Exact(Int128 value) =>
        value > ulong.MaxValue || value < long.MinValue ? null : value > long.MaxValue ? (ulong)value : (long)value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    private void Observe(Scalar value)
    {
        if (Count == 0)
        {
            _first = value;
        }

        Count++;
        _last = value;
        Overridden = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into the SDK's fold of logged values (Run.FoldLogged)
    private void AddNumber(double value)
    {
        _numbers++;
        _sum += value;
        if (!(value >= _min))
        {
            _min = value; // NaN-safe: the first value replaces the initial NaN
        }

        if (!(value <= _max))
        {
            _max = value;
        }
    }
}

/// <summary>The kinds of a summary's value.</summary>
internal enum ScalarKind : byte
{
    None,
    Double,
    Int64,
    UInt64,
    Bool,
    Text,
}

/// <summary>A plain value without boxing: what the summary keeps of its first and last values.</summary>
internal readonly record struct Scalar(ScalarKind Kind, double Number, long Bits, string? Text)
{
    public object? ToObject() => Kind switch
    {
        ScalarKind.Double => Number,
        ScalarKind.Int64 => Bits,
        ScalarKind.UInt64 => unchecked((ulong)Bits),
        ScalarKind.Bool => Number != 0,
        ScalarKind.Text => Text,
        _ => null,
    };

    public static Scalar From(object? value) => value switch
    {
        double d => new(ScalarKind.Double, d, 0, null),
        long l => new(ScalarKind.Int64, l, l, null),
        ulong ul => new(ScalarKind.UInt64, ul, unchecked((long)ul), null),
        bool b => new(ScalarKind.Bool, b ? 1 : 0, 0, null),
        string s => new(ScalarKind.Text, double.NaN, 0, s),
        _ => default,
    };
}
