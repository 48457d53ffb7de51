using System.Text.Json.Nodes;

namespace Tracker.Server.Storage;

/// <summary>
/// What users changed of a run's name, tags and notes through the write API, kept apart from what
/// the run's client sends (the runs.edits column), so that neither overwrites the other. Each edit
/// remembers the client's value it replaced (its base), and the later change wins: while the client
/// sends the value it had when the user edited (a resumed run upserts its run.json again), the edit
/// shows; once the client sends another value, that is newer, and it shows. Tags are merged: tags
/// the client adds after the edit are added to the user's, and tags it removes are removed, as an
/// edit in W&amp;B's UI sticks while later tags from the SDK add to it.
/// </summary>
internal static class RunEdits
{
    /// <summary>The run as readers see it: the client's values with the users' edits applied.</summary>
    public static StoredRun View(StoredRun run) =>
        Apply(run.Name, run.Metadata, run.Edits) is { } shown ? run with { Name = shown.Name, Metadata = shown.Metadata } : run;

    /// <summary>The name and metadata (notes, tags) shown for the client's under <paramref name="edits"/>; null when there are no edits.</summary>
    public static (string Name, JsonObject Metadata)? Apply(string clientName, JsonObject clientMetadata, string? edits)
    {
        if (edits is null || JsonNode.Parse(edits) is not JsonObject edited)
        {
            return null;
        }

        var metadata = (JsonObject)clientMetadata.DeepClone();
        var name = clientName;
        if (edited["name"] is JsonObject nameEdit && (string?)nameEdit["base"] == clientName)
        {
            name = (string?)nameEdit["value"] ?? clientName;
        }

        if (edited["notes"] is JsonObject notesEdit && (string?)notesEdit["base"] == (string?)clientMetadata["notes"])
        {
            metadata["notes"] = (string?)notesEdit["value"];
        }

        if (edited["tags"] is JsonObject tagsEdit)
        {
            var client = Tags(clientMetadata["tags"]);
            var seen = Tags(tagsEdit["base"]);
            var removed = seen.Except(client, StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
            var tags = Tags(tagsEdit["value"]).Where(t => !removed.Contains(t))
                .Concat(client.Except(seen, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal);
            metadata["tags"] = new JsonArray([.. tags.Select(t => (JsonNode?)JsonValue.Create(t))]);
        }

        return (name, metadata);
    }

    /// <summary>
    /// The edits column after a user's change: each field given replaces its edit, based on the
    /// client's value now; a value equal to the client's needs no edit and drops it.
    /// </summary>
    public static string? Record(StoredRun run, string? name, IReadOnlyList<string>? tags, bool setNotes, string? notes)
    {
        var edits = run.Edits is { } stored && JsonNode.Parse(stored) is JsonObject kept ? kept : [];
        if (name is not null)
        {
            Set(edits, "name", name == run.Name ? null : new JsonObject { ["value"] = name, ["base"] = run.Name });
        }

        if (setNotes)
        {
            var client = (string?)run.Metadata["notes"];
            Set(edits, "notes", notes == client ? null : new JsonObject { ["value"] = notes, ["base"] = client });
        }

        if (tags is not null)
        {
            var client = Tags(run.Metadata["tags"]);
            Set(edits, "tags", tags.SequenceEqual(client, StringComparer.Ordinal) ? null : new JsonObject { ["value"] = Array(tags), ["base"] = Array(client) });
        }

        return edits.Count == 0 ? null : edits.ToJsonString();
    }

    private static void Set(JsonObject edits, string field, JsonObject? edit)
    {
        if (edit is null)
        {
            edits.Remove(field);
        }
        else
        {
            edits[field] = edit;
        }
    }

    private static List<string> Tags(JsonNode? node) =>
        node is JsonArray array ? [.. array.Select(t => (string?)t).OfType<string>()] : [];

    private static JsonArray Array(IEnumerable<string> tags) => new([.. tags.Select(t => (JsonNode?)JsonValue.Create(t))]);
}
