using Tracker.Server.Storage;

namespace Tracker.Server.Mlflow;

/// <summary>An MLflow experiment: a Tracker project, created through the MLflow API or by its first run.</summary>
internal sealed record MlflowExperiment(string Project, DateTimeOffset Created, DateTimeOffset LastUpdate);

/// <summary>
/// What the MLflow API needs beyond the run store: experiments that have no run yet (a project
/// otherwise exists through its runs), and a run found by its id alone (MLflow's <c>run_id</c>
/// carries no experiment).
/// </summary>
internal sealed class MlflowStore(SqlRunStore store)
{
    /// <summary>Creates the experiment; false when the project exists already, as an experiment or through runs.</summary>
    public async Task<bool> CreateExperimentAsync(string project, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await GetExperimentAsync(project, cancellationToken) is not null)
        {
            return false;
        }

        using var turn = await store.Dialect.EnterWriteAsync(cancellationToken);
        await using var connection = await store.Dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null,
            "INSERT INTO mlflow_experiments (project, created_at) VALUES (@project, @now) ON CONFLICT (project) DO NOTHING",
            ("project", project), ("now", Sql.Format(now)));
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<MlflowExperiment?> GetExperimentAsync(string project, CancellationToken cancellationToken) =>
        (await ListExperimentsAsync(cancellationToken)).FirstOrDefault(e => e.Project == project);

    /// <summary>Every experiment: the projects with runs and those created without, by name.</summary>
    public async Task<IReadOnlyList<MlflowExperiment>> ListExperimentsAsync(CancellationToken cancellationToken)
    {
        var experiments = (await store.Runs.ListProjectsAsync(cancellationToken))
            .ToDictionary(p => p.Name, p => new MlflowExperiment(p.Name, p.LastUpdate, p.LastUpdate), StringComparer.Ordinal);
        await using var connection = await store.Dialect.OpenAsync(cancellationToken);
        await using var command = Sql.Command(connection, null, "SELECT project, created_at FROM mlflow_experiments");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var created = Sql.ParseTime(reader.GetString(1));
            var project = reader.GetString(0);
            experiments[project] = experiments.TryGetValue(project, out var withRuns)
                ? withRuns with { Created = created }
                : new MlflowExperiment(project, created, created);
        }

        return [.. experiments.Values.OrderBy(e => e.Project, StringComparer.Ordinal)];
    }

    /// <summary>The run with this id, whichever project holds it; null when none does.</summary>
    /// <exception cref="MlflowException">Several projects hold a run with this id (runs made by the SDK in different projects).</exception>
    public async Task<StoredRun?> FindRunAsync(string runId, CancellationToken cancellationToken)
    {
        var projects = new List<string>();
        await using (var connection = await store.Dialect.OpenAsync(cancellationToken))
        {
            await using var command = Sql.Command(connection, null, "SELECT project FROM runs WHERE run_id = @run", ("run", runId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                projects.Add(reader.GetString(0));
            }
        }

        return projects.Count switch
        {
            0 => null,
            1 => await store.Runs.GetRunAsync(projects[0], runId, cancellationToken),
            _ => throw MlflowException.Invalid($"Run id '{runId}' names runs of several experiments ({string.Join(", ", projects.Order(StringComparer.Ordinal))}); read it through /api/v1/projects/PROJECT/runs/{runId} instead."),
        };
    }
}
