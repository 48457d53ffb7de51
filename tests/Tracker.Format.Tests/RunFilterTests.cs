namespace Tracker.Format.Tests;

/// <summary>The run filter's evaluation over one run: the meanings the server's listing gives each key.</summary>
public sealed class RunFilterTests
{
    private static readonly FilterableRun Run = new("r1", "Ärger-run", "finished", "2026-03-01T10:00:00.0000000+00:00", ["base", "gpu"],
        RunValue.OfConfig(new Dictionary<string, object?>
        {
            ["optimizer"] = "sgd",
            ["lr"] = 0.01,
            ["score"] = 1L,
            ["layers"] = "10",
            ["model"] = new Dictionary<string, object?> { ["depth"] = 12L },
            ["sizes"] = new List<object?> { 1L, 2L },
        }),
        RunValue.OfSummary(new Dictionary<string, object?> { ["val/acc"] = 0.9, ["score"] = 3L, ["done"] = true, ["loss"] = double.NaN }));

    private static bool Matches(string filter)
    {
        var (conditions, problem) = RunFilter.Parse(filter);
        Assert.That(problem, Is.Null);
        return RunFilter.Matches(conditions, Run);
    }

    [TestCase("summary.val/acc > 0.8 and config.optimizer = 'sgd'", true)]
    [TestCase("metrics.val/acc <= 0.8", false)]
    [TestCase("params.lr < 0.05", true)]
    [TestCase("config.model.depth >= 12", true)]
    [TestCase("score = 3", true)] // a bare key is the summary's value where there is one
    [TestCase("score = 1", false)]
    [TestCase("lr = 0.01", true)] // else the config's
    [TestCase("config.layers > 9", false)] // the text "10" is not a number
    [TestCase("config.layers = '10'", true)]
    [TestCase("config.layers = 10", false)]
    [TestCase("config.optimizer != adam", true)]
    [TestCase("config.missing != adam", false)] // a condition matches only runs with the key, != too
    [TestCase("config.optimizer != 5", false)] // nor does a number compare with text
    [TestCase("config.sizes = 1", false)] // lists are not filterable
    [TestCase("summary.done = true", true)]
    [TestCase("loss = NaN", true)] // NaN is its text
    [TestCase("tag = base", true)]
    [TestCase("tag != base", false)]
    [TestCase("tag != best", true)]
    [TestCase("state = finished and id = r1", true)]
    [TestCase("state != finished", false)]
    [TestCase("name > 'Z'", true)] // by code point: Ä (U+00C4) after Z
    [TestCase("name = 'ärger-run'", false)] // case counts
    [TestCase("start_time > '2026-01-01' and start_time < '2026-04'", true)]
    public void Matches_AsTheServersListing(string filter, bool expected) => Assert.That(Matches(filter), Is.EqualTo(expected), filter);

    [Test]
    public void Matches_NameContains_IgnoresCaseOnNameOrId()
    {
        Assert.That(RunFilter.Matches([new RunCondition(RunField.Name, null, "contains", new RunLiteral(null, "ÄRGER"))], Run), Is.True);
        Assert.That(RunFilter.Matches([new RunCondition(RunField.Name, null, "contains", new RunLiteral(null, "R1"))], Run), Is.True);
        Assert.That(RunFilter.Matches([new RunCondition(RunField.Name, null, "contains", new RunLiteral(null, "x"))], Run), Is.False);
    }

    [Test]
    public void Matches_StartTimeMissing_MatchesNothing() =>
        Assert.That(RunFilter.Matches(RunFilter.Parse("start_time > '2000'").Conditions, Run with { StartTime = null }), Is.False);

    [Test]
    public void Matches_TextBeyondTheBasicPlane_ComparesByCodePoint()
    {
        // UTF-16 ordinal order puts a surrogate pair (U+1F600) before U+FF01; code point order, the databases', after.
        var run = Run with { Name = "\U0001F600" };
        Assert.That(RunFilter.Matches(RunFilter.Parse("name > '\uFF01'").Conditions, run), Is.True);
    }

    [Test]
    public void UnknownKeys_NamesKeysNoRunHas()
    {
        var (conditions, _) = RunFilter.Parse("summary.val/acc > 0.8 and config.optimzer = sgd and lr < 1 and summary.lr > 0 and tag = x");
        Assert.That(RunFilter.UnknownKeys(conditions, [Run]), Is.EqualTo(new[] { "optimzer", "lr" }));
    }

    [Test]
    public void Parse_Malformed_SaysWhereAndHow()
    {
        var (_, problem) = RunFilter.Parse("summary.acc > 0.8 or lr < 1");
        Assert.That(problem, Does.Contain("character 19").And.Contain("'or' is not supported").And.Contain(RunFilter.Example));
    }

    [Test]
    public void RunValueOfConfig_FlattensObjectsAndLeavesListsOut() =>
        Assert.That(Run.Config.Keys, Is.EquivalentTo(new[] { "optimizer", "lr", "score", "layers", "model.depth" }));
}
