using System.Text;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// A table as <c>tracker</c> prints it (Spectre.Console, square borders), read back from its
/// output. Redirected output is drawn 80 columns wide, so a long cell wraps onto the lines below:
/// a row goes on while its first cell is empty, and the pieces of a cell are joined with a space.
/// Compare ids with <see cref="Compact"/>, which also undoes a word broken mid-way.
/// </summary>
internal sealed class CliTable
{
    private CliTable(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        Headers = headers;
        Rows = rows;
    }

    public IReadOnlyList<string> Headers { get; }

    public IReadOnlyList<IReadOnlyList<string>> Rows { get; }

    /// <summary>Every table in the output, in order (a panel reads as a table without rows).</summary>
    public static IReadOnlyList<CliTable> ParseAll(string output)
    {
        var tables = new List<CliTable>();
        List<StringBuilder>? headers = null;
        List<List<StringBuilder>>? rows = null;
        var inHeader = false;
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.StartsWith('┌'))
            {
                headers = [];
                rows = [];
                inHeader = true;
            }
            else if (line.StartsWith('├') && headers is not null)
            {
                inHeader = false;
            }
            else if (line.StartsWith('└') && headers is not null && rows is not null)
            {
                tables.Add(new CliTable(
                    headers.Select(h => h.ToString()).ToList(),
                    rows.Select(r => (IReadOnlyList<string>)r.Select(c => c.ToString()).ToList()).ToList()));
                headers = null;
                rows = null;
            }
            else if (line.StartsWith('│') && line.EndsWith('│') && line.Length > 1 && headers is not null && rows is not null)
            {
                var cells = line[1..^1].Split('│').Select(c => c.Trim()).ToList();
                if (inHeader)
                {
                    Append(headers, cells);
                }
                else if (rows.Count == 0 || cells[0].Length > 0)
                {
                    rows.Add(cells.Select(c => new StringBuilder(c)).ToList());
                }
                else
                {
                    Append(rows[^1], cells);
                }
            }
        }

        return tables;
    }

    /// <summary>The one table whose first column is <paramref name="firstHeader"/>.</summary>
    public static CliTable Find(string output, string firstHeader)
    {
        var tables = ParseAll(output).Where(t => t.Headers.Count > 0 && t.Headers[0] == firstHeader).ToList();
        Assert.That(tables, Has.Count.EqualTo(1), $"one table with a '{firstHeader}' column in:\n{output}");
        return tables[0];
    }

    /// <summary>Text without any white space: a cell's value however it wrapped.</summary>
    public static string Compact(string text) => string.Concat(text.Where(c => !char.IsWhiteSpace(c)));

    /// <summary>The rows whose <paramref name="column"/> is <paramref name="value"/> (compared compacted).</summary>
    public IReadOnlyList<IReadOnlyList<string>> RowsWhere(string column, string value)
    {
        var index = Column(column);
        return Rows.Where(r => Compact(r[index]) == Compact(value)).ToList();
    }

    /// <summary>The one row whose <paramref name="column"/> is <paramref name="value"/>.</summary>
    public IReadOnlyList<string> Row(string column, string value)
    {
        var rows = RowsWhere(column, value);
        Assert.That(rows, Has.Count.EqualTo(1), $"one row with {column} = {value}; rows: {string.Join(" / ", Rows.Select(r => string.Join(" | ", r)))}");
        return rows[0];
    }

    /// <summary>A row's cell in a named column.</summary>
    public string Cell(IReadOnlyList<string> row, string column) => row[Column(column)];

    /// <summary>A row's cell in a named column, compacted: for a word or a state however it wrapped.</summary>
    public string Words(IReadOnlyList<string> row, string column) => Compact(Cell(row, column));

    /// <summary>A number as the tables print them (<c>N0</c>: 12,345).</summary>
    public long Number(IReadOnlyList<string> row, string column) =>
        long.Parse(Compact(Cell(row, column)).Replace(",", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);

    private int Column(string name)
    {
        var index = Headers.ToList().IndexOf(name);
        Assert.That(index, Is.GreaterThanOrEqualTo(0), $"a '{name}' column among {string.Join(", ", Headers)}");
        return index;
    }

    private static void Append(List<StringBuilder> cells, List<string> pieces)
    {
        for (var i = 0; i < Math.Min(cells.Count, pieces.Count); i++)
        {
            if (pieces[i].Length > 0)
            {
                cells[i].Append(cells[i].Length > 0 ? " " : string.Empty).Append(pieces[i]);
            }
        }

        for (var i = cells.Count; i < pieces.Count; i++)
        {
            cells.Add(new StringBuilder(pieces[i]));
        }
    }
}
