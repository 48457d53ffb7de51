using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Tracker.XmlDocs;

/// <summary>Rewrites a compiler's XML doc file without the members that are not visible.</summary>
internal static class PublicDocs
{
    public static (int Kept, int Removed) Filter(string docsPath, VisibleMembers visible)
    {
        var document = XDocument.Load(docsPath, LoadOptions.PreserveWhitespace);
        var members = document.Root?.Element("members")
            ?? throw new InvalidOperationException("not a C# compiler's XML doc file: no <doc><members> element");

        var hidden = new List<XElement>();
        var kept = 0;
        foreach (var member in members.Elements("member"))
        {
            var id = (string?)member.Attribute("name") ?? string.Empty;
            if (visible.Contains(id))
            {
                kept++;
            }
            else if (visible.OnlyVisibleAreNamed(id))
            {
                // Better no file than a package that silently lost the docs of its API.
                throw new InvalidOperationException(
                    $"'{id}' looks public (every member of that name is) but no visible member has that doc ID; " +
                    "the filter spells this kind of signature differently from the compiler and must be fixed.");
            }
            else
            {
                hidden.Add(member);
            }
        }

        if (hidden.Count == 0)
        {
            return (kept, 0);
        }

        foreach (var member in hidden)
        {
            // The line break and indent before it go too, so no blank lines are left.
            if (member.PreviousNode is XText { Value: var text } whitespace && string.IsNullOrWhiteSpace(text))
            {
                whitespace.Remove();
            }

            member.Remove();
        }

        var settings = new XmlWriterSettings { Encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false) };
        using (var writer = XmlWriter.Create(docsPath, settings))
        {
            document.Save(writer);
        }

        return (kept, hidden.Count);
    }
}
