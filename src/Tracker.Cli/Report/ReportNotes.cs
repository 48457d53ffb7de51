using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Tracker.Cli.Report;

/// <summary>
/// A report's notes: Markdown as HTML that runs nothing when the report is opened. Raw HTML is
/// written as text, there are no generic attributes (<c>{onerror=...}</c> would survive
/// <c>DisableHtml</c>), and a link or image keeps its URL only when it is http, https, mailto or
/// relative; any other (javascript:, data:, vbscript:, file:) becomes its text.
/// </summary>
internal static class ReportNotes
{
    private static readonly string[] AllowedSchemes = ["http", "https", "mailto"];

    // UseAdvancedExtensions less generic attributes (they set any attribute, event handlers included),
    // media links (iframes to video sites) and heading ids (a heading "Report data" would take the id of
    // the report's data element).
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UseAbbreviations()
        .UseCitations()
        .UseCustomContainers()
        .UseDefinitionLists()
        .UseEmphasisExtras()
        .UseFigures()
        .UseFooters()
        .UseFootnotes()
        .UseGridTables()
        .UseMathematics()
        .UsePipeTables()
        .UseListExtras()
        .UseTaskLists()
        .UseDiagrams()
        .UseAutoLinks()
        .DisableHtml()
        .Build();

    public static string ToHtml(string markdown)
    {
        var document = Markdown.Parse(markdown, Pipeline);
        foreach (var link in document.Descendants<LinkInline>().ToList())
        {
            if (!IsAllowed(link.Url))
            {
                link.ReplaceBy(new LiteralInline(Text(link)), copyChildren: false); // an image's text is its alt text
            }
        }

        foreach (var link in document.Descendants<AutolinkInline>().ToList())
        {
            if (!link.IsEmail && !IsAllowed(link.Url))
            {
                link.ReplaceBy(new LiteralInline(link.Url), copyChildren: false);
            }
        }

        return Markdown.ToHtml(document, Pipeline);
    }

    /// <summary>
    /// Whether a URL, as Markdig holds it (entities and escapes already decoded), is relative or has
    /// an allowed scheme, read the way a browser reads it: leading and trailing spaces and control
    /// characters dropped, tabs and line breaks inside removed, the scheme case-insensitive.
    /// </summary>
    internal static bool IsAllowed(string? url)
    {
        if (string.IsNullOrEmpty(url))
        {
            return true;
        }

        var trimmed = new string(url.Trim(Controls).Where(c => c is not ('\t' or '\n' or '\r')).ToArray());
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        var end = trimmed.IndexOfAny(['/', '?', '#']);
        if (colon < 0 || (end >= 0 && end < colon))
        {
            return true; // no scheme: relative
        }

        return AllowedSchemes.Contains(trimmed[..colon].ToLowerInvariant(), StringComparer.Ordinal);
    }

    private static readonly char[] Controls = [.. Enumerable.Range(0, 0x21).Select(c => (char)c)];

    private static string Text(ContainerInline container) =>
        string.Concat(container.Descendants<Inline>().Select(inline => inline switch
        {
            LiteralInline literal => literal.Content.ToString(),
            CodeInline code => code.Content,
            _ => string.Empty,
        }));
}
