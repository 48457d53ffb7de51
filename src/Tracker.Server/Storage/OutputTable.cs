using System.Data.Common;

namespace Tracker.Server.Storage;

/// <summary>The run_output table: a run's console lines, one row per output record.</summary>
internal sealed class OutputTable(SqlDialect dialect)
{
    /// <summary>A page of a run's captured console output, after a sequence number.</summary>
    public async Task<List<(long Seq, long Time, string Stream, string Line)>> ReadAsync(long runPk, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            $"SELECT seq, ts, stream, line FROM run_output WHERE run_pk = @run AND seq > @after ORDER BY seq LIMIT {limit}", ("run", runPk), ("after", afterSeq));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var lines = new List<(long, long, string, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            lines.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3)));
        }

        return lines;
    }


    public static async Task InsertAsync(DbConnection connection, DbTransaction transaction, long runPk, List<(long Seq, long Time, string Stream, string Line)> lines, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(connection, transaction,
            "INSERT INTO run_output (run_pk, seq, ts, stream, line) VALUES (@run, @seq, @ts, @stream, @line)",
            ("run", runPk), ("seq", null), ("ts", null), ("stream", null), ("line", null));
        foreach (var (seq, time, stream, line) in lines)
        {
            (command.Parameters[1].Value, command.Parameters[2].Value, command.Parameters[3].Value, command.Parameters[4].Value) = (seq, time, stream, line);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
