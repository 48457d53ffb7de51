using System.Text;

namespace Tracker.Server.Storage;

/// <summary>
/// A page of a project's runs, filtered (conditions joined by <c>and</c>) and sorted by the
/// database over <c>runs</c> and <c>run_values</c>. A run is <c>crashed</c> when it is
/// <c>running</c> and was last heard from before <see cref="CrashedBefore"/>, as reads show it.
/// <see cref="Archived"/>: only archived runs (true), only the others (false), or all (null).
/// Names are those shown: a user's rename (<see cref="RunEdits"/>) where there is one.
/// <see cref="WithTotal"/>: count every matching run too, which costs a pass over all of them.
/// </summary>
internal sealed record RunQuery(string Project, IReadOnlyList<RunCondition> Conditions, RunSort? Sort, int Offset, int Limit, DateTimeOffset CrashedBefore, bool WithTotal = true, bool? Archived = false)
{
    private const string ShownName = "COALESCE(r.shown_name, r.name)";

    /// <summary>
    /// The SQL of the WHERE clause (over <c>runs r</c>) and its parameters. A condition on
    /// <c>run_values</c> (a summary, config or bare key, or <c>tag =</c>) is a list of the runs that
    /// meet it (<c>r.pk IN (SELECT …)</c>), built before the walk in sort order, or, for the
    /// conditions in <paramref name="probed"/>, a correlated <c>EXISTS</c> probed for each run the walk
    /// visits: cheaper for a condition many runs meet, as the page is full after a few runs
    /// (<see cref="ListedConditions"/>).
    /// </summary>
    public (string Where, List<(string, object?)> Parameters) WhereClause(IReadOnlySet<int>? probed = null)
    {
        var parameters = new List<(string, object?)> { ("project", Project), ("cutoff", Sql.Format(CrashedBefore)) };
        var where = new StringBuilder("r.project = @project");
        if (Archived is { } archived)
        {
            where.Append(archived ? " AND r.archived = 1" : " AND r.archived = 0");
        }

        for (var i = 0; i < Conditions.Count; i++)
        {
            var c = Conditions[i];
            parameters.Add(($"v{i}", c.Op == "contains" ? LikePattern(c.Value.Text) : (object?)c.Value.Number ?? c.Value.Text));
            if (c.Key is not null)
            {
                parameters.Add(($"k{i}", c.Key));
            }

            where.Append(" AND ").Append(c.Field switch
            {
                RunField.Name when c.Op == "contains" => $"(LOWER({ShownName}) LIKE @v{i} ESCAPE '\\' OR LOWER(r.run_id) LIKE @v{i} ESCAPE '\\')",
                RunField.Name => $"{ShownName} {c.Op} @v{i}",
                RunField.Id => $"r.run_id {c.Op} @v{i}",
                RunField.State => StateCondition(c, i),
                RunField.StartTime => $"r.start_time {c.Op} @v{i}",
                RunField.Tag when c.Op != "=" => $"r.pk NOT IN (SELECT run_pk FROM run_values WHERE project = @project AND kind = 't' AND key = @v{i})",
                _ when probed?.Contains(i) == true => $"EXISTS (SELECT 1 FROM run_values v WHERE v.run_pk = r.pk AND {ValueMatch(i)})",
                _ => $"r.pk IN (SELECT v.run_pk FROM run_values v WHERE {ValueMatch(i)})",
            });
        }

        return ($"WHERE {where}", parameters);
    }

    /// <summary>The conditions met by rows of <c>run_values</c> (alias <c>v</c>), which <see cref="WhereClause"/> may list or probe; the rest compare columns of <c>runs</c>.</summary>
    public IEnumerable<int> ListedConditions() =>
        Enumerable.Range(0, Conditions.Count).Where(i => Conditions[i] is { Field: RunField.Summary or RunField.Config or RunField.SummaryOrConfig } or { Field: RunField.Tag, Op: "=" });

    /// <summary>
    /// The rows of <c>run_values v</c> that meet condition <paramref name="i"/> (one of
    /// <see cref="ListedConditions"/>), limited to <paramref name="cap"/>: counting them tells
    /// cheaply whether few runs meet it. Takes <see cref="WhereClause"/>'s parameters.
    /// </summary>
    public string MatchingRows(int i, int cap) => $"SELECT 1 FROM run_values v WHERE {ValueMatch(i)} LIMIT {cap}";

    /// <summary>The rows of <c>run_values v</c> that meet condition <paramref name="i"/>.</summary>
    private string ValueMatch(int i)
    {
        var c = Conditions[i];
        var column = c.Value.Number is null ? "txt" : "num";
        return c.Field switch
        {
            RunField.Tag => $"v.project = @project AND v.kind = 't' AND v.key = @v{i}",
            RunField.Summary => $"v.project = @project AND v.kind = '{ValueKind.Summary}' AND v.key = @k{i} AND v.{column} {c.Op} @v{i}",
            RunField.Config => $"v.project = @project AND v.kind = '{ValueKind.Config}' AND v.key = @k{i} AND v.{column} {c.Op} @v{i}",
            // One subquery, no OR of two: a database estimates it as the one condition it is.
            _ => $"v.project = @project AND v.kind IN ('s', 'c') AND v.key = @k{i} AND v.{column} {c.Op} @v{i} "
                + $"AND (v.kind = 's' OR NOT EXISTS (SELECT 1 FROM run_values o WHERE o.run_pk = v.run_pk AND o.project = @project AND o.kind = 's' AND o.key = @k{i}))",
        };
    }

    /// <summary>
    /// The sort as parts read one after the other, each ordered by an index so that a page reads
    /// only its own rows (a LIMIT over one ORDER BY of a LEFT JOIN sorted every matching run):
    /// for a sort by a value, runs with a number, then runs with text, then runs without the key;
    /// else one part. Each is the tables it reads (<c>runs r</c> among them), the conditions it
    /// adds to <see cref="WhereClause"/> and its ORDER BY. Ties, and no sort: newest start first.
    /// </summary>
    public IReadOnlyList<(string From, string And, string OrderBy)> SortParts(List<(string, object?)> parameters)
    {
        if (Sort is not { } sort)
        {
            return [("runs r", string.Empty, $"ORDER BY {Newest}")];
        }

        var direction = sort.Descending ? "DESC" : "ASC";
        if (sort.Field is RunField.Summary or RunField.Config)
        {
            parameters.Add(("sortkey", sort.Key));
            var kind = sort.Field == RunField.Summary ? ValueKind.Summary : ValueKind.Config;

            // CROSS JOIN keeps run_values outermost in SQLite, walking its index in sort order; PostgreSQL plans it as a join.
            var values = $"r.pk = sv.run_pk AND sv.project = @project AND sv.kind = '{kind}' AND sv.key = @sortkey";
            return
            [
                ("run_values sv CROSS JOIN runs r", $" AND {values} AND sv.num IS NOT NULL", $"ORDER BY sv.num {direction}, {Newest}"),
                ("run_values sv CROSS JOIN runs r", $" AND {values} AND sv.num IS NULL AND sv.txt IS NOT NULL", $"ORDER BY sv.txt {direction}, {Newest}"),
                ("runs r", $" AND NOT EXISTS (SELECT 1 FROM run_values sv WHERE sv.run_pk = r.pk AND sv.kind = '{kind}' AND sv.key = @sortkey)", $"ORDER BY {Newest}"),
            ];
        }

        // name and run_id are never NULL; start_time may be, and goes last.
        var order = sort.Field switch
        {
            RunField.Name => $"{ShownName} {direction}",
            RunField.Id => $"r.run_id {direction}",
            RunField.State => $"{StateSql} {direction}",
            _ => $"(r.start_time IS NULL), r.start_time {direction}",
        };
        return [("runs r", string.Empty, $"ORDER BY {order}, {Newest}")];
    }

    /// <summary>Newest start first, runs without a start last, then by id: the order of ties, served by the index runs_newest.</summary>
    private const string Newest = "(r.start_time IS NULL), r.start_time DESC, r.run_id";

    /// <summary>The keys the conditions and the sort name, by kind, to tell which no run of the project has.</summary>
    public IEnumerable<(string Kinds, string Key)> ValueKeys() =>
        Conditions.Select(c => (Field: c.Field, Key: c.Key)).Append((Field: Sort?.Field ?? RunField.Name, Key: Sort?.Key))
            .Where(k => k.Key is not null)
            .Select(k => (k.Field switch
            {
                RunField.Summary => "'s'",
                RunField.Config => "'c'",
                _ => "'s', 'c'",
            }, k.Key!))
            .Distinct();

    /// <summary>The state as reads show it: a running run unheard since the cutoff is crashed.</summary>
    private const string StateSql = "(CASE WHEN r.state = 'running' AND r.updated_at < @cutoff THEN 'crashed' ELSE r.state END)";

    /// <summary>
    /// <c>state = X</c> compares the stored state, which the indexes on <c>(project, state, …)</c>
    /// serve in the sort's order: the computed state is X only where the stored one is X, or, for
    /// <c>crashed</c>, <c>running</c>. Only <c>running</c> and <c>crashed</c> need the computed
    /// state too (a stale running run reads as crashed). <c>!=</c> keeps the computed state alone.
    /// </summary>
    private static string StateCondition(RunCondition c, int i) => (c.Op, c.Value.Text) switch
    {
        ("=", "running") => $"(r.state = @v{i} AND {StateSql} = @v{i})",
        ("=", "crashed") => $"(r.state IN ('running', 'crashed') AND {StateSql} = @v{i})",
        ("=", _) => $"r.state = @v{i}",
        _ => $"{StateSql} {c.Op} @v{i}",
    };

    /// <summary>Contains, case folded on both sides; LIKE's wildcards in the text are meant literally.</summary>
    private static string LikePattern(string text) =>
        "%" + text.ToLowerInvariant().Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";

}
