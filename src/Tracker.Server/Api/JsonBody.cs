using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tracker.Server.Api;

/// <summary>
/// The one reading of a request body that must be a JSON object (saved views, run edits, the batch
/// reads, the MLflow API). It says what is wrong in the same words everywhere; each caller answers
/// in its own shape (<see cref="Problems.ParseObject"/>, or MLflow's error).
/// </summary>
internal static class JsonBody
{
    /// <summary>
    /// The body as a JSON object, or null and the <paramref name="problem"/>: an empty body, a member
    /// named twice (JSON readers disagree on which value wins), text that is not JSON, or JSON that is
    /// not an object. <paramref name="instead"/> is the sentence that says what to send.
    /// </summary>
    public static JsonObject? Parse(ReadOnlySpan<byte> json, string instead, out BodyProblem problem)
    {
        problem = default;
        if (json.IsEmpty)
        {
            problem = new BodyProblem($"The body is empty. {instead}", "body");
            return null;
        }

        if (RecordRules.DuplicateKey(json) is { } repeated)
        {
            problem = new BodyProblem($"\"{RecordRules.Printable(repeated)}\" is given twice. Give each field once.", repeated);
            return null;
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            problem = new BodyProblem($"The body is not valid JSON: {ex.Message} {instead}", "body");
            return null;
        }

        if (node is JsonObject body)
        {
            return body;
        }

        var kind = node is null ? "null" : node.GetValueKind().ToString().ToLowerInvariant();
        problem = new BodyProblem($"The body is a JSON {kind}, not an object. {instead}", "body");
        return null;
    }
}

/// <summary>What is wrong with a request body, and the member to blame (<c>body</c> for the whole of it).</summary>
internal readonly record struct BodyProblem(string Detail, string Field);
