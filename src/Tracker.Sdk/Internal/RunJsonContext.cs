using System.Text.Json.Serialization;
using Tracker.Reading;

namespace Tracker.Internal;

/// <summary>
/// Compile-time JSON metadata of run.json. Json.Options resolves RunInfo here and everything else
/// by reflection; the options (names, numbers, converters) are Json's either way, so the bytes
/// are the same. It spares the first run.json of a process building its serializer by
/// reflection, which cost Run.Init about 100 ms.
/// </summary>
[JsonSerializable(typeof(RunInfo))]
internal sealed partial class RunJsonContext : JsonSerializerContext;
