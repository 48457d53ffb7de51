using Tracker.Internal;

namespace Tracker.Export;

/// <summary>
/// A backend of the SDK's own that reports what it left out (a refused value, a param MLflow cannot
/// change) through the run's <see cref="RunOptions.Diagnostics"/>; its worker hands it the sink before opening it.
/// </summary>
internal interface IReportingBackend
{
    /// <summary>Where the backend reports; called once, before <see cref="IRecordBackend.OpenAsync"/>.</summary>
    void UseDiagnostics(DiagnosticsSink diagnostics);
}
