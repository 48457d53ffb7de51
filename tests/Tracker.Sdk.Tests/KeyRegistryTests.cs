using Tracker.Format;
using Tracker.Internal;

namespace Tracker.Tests;

/// <summary>
/// The key lookup of every Log call: the key after the last one found is predicted (a training loop
/// logs its keys in one order), and a wrong prediction, a new order or a new string of the same text
/// must still find the right key.
/// </summary>
public sealed class KeyRegistryTests
{
    [Test]
    public void Find_InTheLoggedOrder_InAnotherOrder_AndByText_GivesEachNamesKey()
    {
        var keys = new KeyRegistry();
        string[] names = ["loss", "acc", "lr"];
        var added = names.Select(n => keys.Add(n, new MetricSummary())).ToArray();

        for (var round = 0; round < 3; round++)
        {
            foreach (var i in new[] { 0, 1, 2, 0, 2, 1, 1, 1, 2, 0 })
            {
                Assert.That(keys.Find(names[i]), Is.SameAs(added[i]), $"'{names[i]}' in round {round}");
            }

            Assert.That(keys.Find("missing"), Is.Null);
            Assert.That(keys.Find(new string("acc".AsSpan())), Is.SameAs(added[1]), "another string of the same text");
        }
    }
}
