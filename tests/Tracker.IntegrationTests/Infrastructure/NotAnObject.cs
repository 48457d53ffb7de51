using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Tracker.IntegrationTests.Infrastructure;

/// <summary>
/// Request bodies that are not a JSON object, and the words every endpoint that wants one answers
/// them with: what was wrong, then what to send.
/// </summary>
internal static class NotAnObject
{
    /// <summary>A body, and what the answer says is wrong with it.</summary>
    public static IEnumerable<TestCaseData> Bodies { get; } =
    [
        new TestCaseData(string.Empty, "The body is empty.").SetArgDisplayNames("empty"),
        new TestCaseData("[1,2]", "The body is a JSON array, not an object.").SetArgDisplayNames("array"),
        new TestCaseData("{not json", "The body is not valid JSON: ").SetArgDisplayNames("malformed"),
    ];

    /// <summary>Checks that <paramref name="response"/> is the 400 problem titled <paramref name="title"/> that says <paramref name="said"/> and what to send.</summary>
    public static async Task AssertProblemAsync(HttpResponseMessage response, string title, string said)
    {
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That(((string?)problem["title"], (string?)problem["field"]), Is.EqualTo((title, "body")));
        Assert.That((string?)problem["detail"], Does.StartWith(said).And.Contain("Send a JSON object such as {"));
    }
}
