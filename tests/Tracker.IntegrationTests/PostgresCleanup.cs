using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>
/// Stops the PostgreSQL cluster this test run started, whatever the outcome. It sits in the tests'
/// own namespace: a set-up fixture covers only the namespace it is declared in and those below.
/// </summary>
[SetUpFixture]
public sealed class PostgresCleanup
{
    [OneTimeTearDown]
    public void StopCluster() => Postgres.StopOwnCluster();
}
