using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Tracker.XmlDocs;

/// <summary>
/// <c>Tracker.XmlDocs ASSEMBLY.dll DOCS.xml</c>: removes from DOCS.xml (in place) every
/// <c>&lt;member&gt;</c> that does not name a member visible outside ASSEMBLY.dll, so a package's
/// IntelliSense file documents its public API only. Exit code 0 on success, 1 with a message on
/// stderr when an argument or file is wrong or when a documented member that looks public would be
/// dropped (a doc ID this program spells differently from the compiler: nothing is written then).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: Tracker.XmlDocs ASSEMBLY.dll DOCS.xml (keeps the docs of members visible outside the assembly)");
            return 1;
        }

        var (assemblyPath, docsPath) = (args[0], args[1]);
        try
        {
            VisibleMembers visible;
            using (var pe = new PEReader(File.OpenRead(assemblyPath)))
            {
                visible = VisibleMembers.Of(pe.GetMetadataReader());
            }

            var result = PublicDocs.Filter(docsPath, visible);
            Console.WriteLine($"{docsPath}: kept the docs of {result.Kept} public members, removed {result.Removed}");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BadImageFormatException or InvalidOperationException or System.Xml.XmlException)
        {
            // MSBuild's canonical error format, so the build names the file and the reason.
            Console.Error.WriteLine($"{docsPath}: error XMLDOCS1: {e.Message}");
            return 1;
        }
    }
}
