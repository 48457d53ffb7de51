namespace Tracker.Format.Tests;

public sealed class RecordValueTests
{
    private static object? RoundTrip(object? value)
    {
        var json = RecordValue.ToJson(value);
        var reader = new System.Text.Json.Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json));
        reader.Read();
        return RecordValue.Read(ref reader);
    }

    [Test]
    public void Integers_RoundTripExactly()
    {
        Assert.That(RoundTrip(9007199254740993L), Is.EqualTo(9007199254740993L).And.TypeOf<long>());
        Assert.That(RoundTrip(ulong.MaxValue), Is.EqualTo(ulong.MaxValue).And.TypeOf<ulong>());
        Assert.That(RoundTrip(long.MinValue), Is.EqualTo(long.MinValue));
        Assert.That(RoundTrip(3), Is.EqualTo(3L).And.TypeOf<long>());
    }

    [Test]
    public void Doubles_StayDoubles_EvenWhenIntegral()
    {
        Assert.That(RecordValue.ToJson(3.0), Is.EqualTo("3.0"));
        Assert.That(RoundTrip(3.0), Is.EqualTo(3.0).And.TypeOf<double>());
        Assert.That(RoundTrip(1e300), Is.EqualTo(1e300).And.TypeOf<double>());
        Assert.That(RoundTrip(0.1), Is.EqualTo(0.1));
        Assert.That((double)RoundTrip(double.NaN)!, Is.NaN);
        Assert.That(RoundTrip(double.NegativeInfinity), Is.EqualTo(double.NegativeInfinity));
        Assert.That(double.IsNegative((double)RoundTrip(-0.0)!), Is.True);
    }

    [TestCase("NaN")]
    [TestCase("Infinity")]
    [TestCase("-Infinity")]
    public void SpecialText_StaysText(string text)
    {
        Assert.That(RecordValue.ToJson(text), Is.EqualTo($$"""{"_str":"{{text}}"}"""));
        Assert.That(RoundTrip(text), Is.EqualTo(text).And.TypeOf<string>());
    }

    [Test]
    public void ListsAndBooleans_KeepTheirShape()
    {
        Assert.That(RoundTrip(new[] { 64, 32 }), Is.EqualTo(new List<object?> { 64L, 32L }));
        Assert.That(RoundTrip(true), Is.EqualTo(true));
        Assert.That(RecordValue.Display(new List<object?> { 64L, 32L }), Is.EqualTo("[64, 32]"));
        Assert.That(RecordValue.Display(new[] { 0.5, 1.0 }), Is.EqualTo("[0.5, 1]"));
    }

    [Test]
    public void Write_Unsupported_ThrowsSayingWhatWorks() =>
        Assert.That(() => RecordValue.ToJson(new object()), Throws.ArgumentException.With.Message.Contains("numbers, bool, string"));
}
