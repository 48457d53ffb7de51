using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using System.Xml.Linq;
using Tracker.IntegrationTests.Infrastructure;

namespace Tracker.IntegrationTests;

/// <summary>
/// The packages as <c>dotnet pack -c Release</c> makes them (into a temp folder, so a plain
/// <c>dotnet test</c> checks them too; after .ci/run's packs the builds are incremental): symbols
/// with SourceLink and no build-machine paths, a tool without the server's apphost or natives for
/// platforms .NET does not run on, READMEs that cover online mode, media, login and run, and XML
/// docs of the public API only.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(8);

    // The Portable PDB's SourceLink record (docs: github.com/dotnet/runtime, PortablePdb-Metadata.md).
    private static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    private static readonly string[] Libraries =
        ["Tracker.Format", "Tracker.Sdk", "Tracker.Sdk.Extensions.MLNet", "Tracker.Sdk.Extensions.TorchSharp", "Tracker.Sdk.Extensions.TensorBoard"];

    private static readonly string[] ToolRuntimeIdentifiers =
        ["linux-x64", "linux-arm64", "linux-arm", "linux-musl-x64", "linux-musl-arm64", "linux-musl-arm", "osx-x64", "osx-arm64", "win-x64", "win-arm64", "win-x86"];

    private string _root = string.Empty;
    private string _output = string.Empty;

    [OneTimeSetUp]
    public async Task Pack()
    {
        _root = Repository.Root;
        _output = Path.Combine(Path.GetTempPath(), "tracker-packages", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_output);

        // The tool first: it builds the libraries in Release, so their packs only pack.
        foreach (var project in new[] { "Tracker.Cli" }.Concat(Libraries))
        {
            await PackAsync(project);
        }
    }

    [OneTimeTearDown]
    public void DeletePackages()
    {
        if (Directory.Exists(_output))
        {
            Directory.Delete(_output, recursive: true);
        }
    }

    [TestCase("Tracker.Format")]
    [TestCase("Tracker.Sdk")]
    [TestCase("Tracker.Cli")]
    [TestCase("Tracker.Sdk.Extensions.MLNet")]
    [TestCase("Tracker.Sdk.Extensions.TorchSharp")]
    [TestCase("Tracker.Sdk.Extensions.TensorBoard")]
    public void SymbolsPackage_HasAPdbPerAssemblyWithSourceLinkToTheCommit(string id)
    {
        using var package = ZipFile.OpenRead(PackagePath(id, "nupkg"));
        using var symbols = ZipFile.OpenRead(PackagePath(id, "snupkg"));
        var own = package.Entries.Where(e => e.Name == $"{id}.dll").ToList();
        Assert.That(own, Is.Not.Empty, $"{id}.dll in the package");

        foreach (var dll in own)
        {
            var pdbPath = Path.ChangeExtension(dll.FullName, ".pdb");
            var pdb = symbols.GetEntry(pdbPath);
            Assert.That(pdb, Is.Not.Null, $"{pdbPath} in the symbols package; it has {string.Join(", ", symbols.Entries.Select(e => e.FullName))}");
            var sourceLink = SourceLinkOf(ReadAll(pdb!));
            Assert.That(sourceLink, Does.Match(@"""/_/\*"":""https://raw\.githubusercontent\.com/tracker-dotnet/tracker/[0-9a-f]{40}/\*"""), $"{pdbPath}: sources at the commit");

            var bytes = ReadAll(dll);
            Assert.That(PdbPathIn(bytes), Does.StartWith("/_/"), $"{dll.FullName}: the PDB path is mapped, not the build machine's");
            Assert.That(Encoding.UTF8.GetString(bytes), Does.Not.Contain(_root), $"{dll.FullName} names no path of the machine that packed it");
        }

        var nuspec = Encoding.UTF8.GetString(ReadAll(package.Entries.Single(e => e.Name == $"{id}.nuspec")));
        Assert.That(nuspec, Does.Match(@"<repository type=""git"" url=""https://github\.com/tracker-dotnet/tracker""[^>]* commit=""[0-9a-f]{40}"""), "the package names its commit");
    }

    [Test]
    public void ToolPackage_LeavesOutTheServerAppHostXmlDocsAndForeignNatives()
    {
        using var package = ZipFile.OpenRead(PackagePath("Tracker.Cli", "nupkg"));
        var files = package.Entries.Select(e => e.FullName).Where(f => f.StartsWith("tools/", StringComparison.Ordinal)).ToList();
        var names = files.Select(Path.GetFileName).ToList();

        Assert.That(names, Does.Contain("Tracker.Cli.dll").And.Contain("Tracker.Server.dll").And.Contain("Tracker.Cli.runtimeconfig.json"));
        Assert.That(names, Has.None.EqualTo("Tracker.Server").And.None.EqualTo("Tracker.Server.exe")
            .And.None.EqualTo("Tracker.Server.deps.json").And.None.EqualTo("Tracker.Server.runtimeconfig.json"), "the server runs in process: no apphost of its own");
        Assert.That(names.Where(n => n != "DotnetToolSettings.xml"), Has.None.EndsWith(".xml"), "no XML docs in a tool");
        Assert.That(files, Has.None.Contains("/cs/").And.None.Contains("/zh-Hant/"), "English only: no satellite assemblies");

        var rids = files.Where(f => f.Contains("/runtimes/", StringComparison.Ordinal))
            .Select(f => f[(f.IndexOf("/runtimes/", StringComparison.Ordinal) + "/runtimes/".Length)..].Split('/')[0]).Distinct().ToList();
        Assert.That(rids, Is.SubsetOf(ToolRuntimeIdentifiers), "SQLite natives only for platforms .NET 10 runs on");
        Assert.That(rids, Is.SupersetOf(new[] { "linux-x64", "linux-arm64", "osx-arm64", "win-x64" }), "and for each of the common ones");
    }

    [TestCase("Tracker.Sdk", "## Online mode", "## Media", "tracker login", "tracker run", "LinesAcknowledged")]
    [TestCase("Tracker.Cli", "## Online runs and tracker login", "## Media", "## tracker run", "## Install and platforms")]
    [TestCase("Tracker.Sdk.Extensions.TensorBoard", "## TensorBoardBackend", "tracker import tensorboard")]
    [TestCase("Tracker.Sdk.Extensions.MLNet", "# Tracker.Sdk.Extensions.MLNet", "LogMetrics")]
    [TestCase("Tracker.Sdk.Extensions.TorchSharp", "# Tracker.Sdk.Extensions.TorchSharp", "## Tensors as images and histograms")]
    public void PackageReadme_CoversOnlineModeMediaLoginAndRun(string id, params string[] sections)
    {
        using var package = ZipFile.OpenRead(PackagePath(id, "nupkg"));
        var readme = Encoding.UTF8.GetString(ReadAll(package.GetEntry("README.md")!));

        foreach (var section in sections)
        {
            Assert.That(readme, Does.Contain(section), $"{id}'s README covers '{section}'");
        }
    }

    [TestCaseSource(nameof(Libraries))]
    public void LibraryPackage_XmlDocsDocumentEveryPublicTypeAndNoMemberHiddenFromUsers(string id)
    {
        using var package = ZipFile.OpenRead(PackagePath(id, "nupkg"));
        var dlls = package.Entries.Where(e => e.FullName.StartsWith("lib/", StringComparison.Ordinal) && e.Name == $"{id}.dll").ToList();
        Assert.That(dlls, Has.Count.EqualTo(2), $"{id}: net8.0 and net10.0");

        foreach (var dll in dlls)
        {
            var xmlPath = Path.ChangeExtension(dll.FullName, ".xml");
            var xml = package.GetEntry(xmlPath);
            Assert.That(xml, Is.Not.Null, $"{xmlPath} in the package: IntelliSense for the public API");
            var documented = MemberIdsIn(ReadAll(xml!));
            var surface = VisibleSurface.Of(ReadAll(dll));

            Assert.That(documented.Where(d => !surface.IsVisible(d)), Is.Empty, $"{xmlPath} documents only what users can see");
            Assert.That(surface.Types.Select(t => "T:" + t).Where(t => !documented.Contains(t)), Is.Empty, $"{xmlPath} still documents every public type");
        }
    }

    [Test]
    public void SdkPackage_XmlDocsKeepPublicOverloadsAndDropInternalOnesOfTheSameName()
    {
        using var package = ZipFile.OpenRead(PackagePath("Tracker.Sdk", "nupkg"));
        var documented = MemberIdsIn(ReadAll(package.GetEntry("lib/net10.0/Tracker.Sdk.xml")!));

        Assert.That(documented, Does.Contain("T:Tracker.RunOptions").And.Contain("M:Tracker.Run.Init(Tracker.RunOptions)")
            .And.Contain("M:Tracker.Run.Finish(System.Int32)"));
        Assert.That(documented, Has.None.StartsWith("M:Tracker.Run.Init(Tracker.RunOptions,System.Func"), "the internal overload of Run.Init");
        Assert.That(documented, Has.None.StartsWith("T:Tracker.Pipeline.RunWorker").And.None.StartsWith("T:Tracker.Internal."), "internal types");
    }

    [TestCase("Tracker.Format")]
    [TestCase("Tracker.Sdk")]
    [TestCase("Tracker.Sdk.Extensions.TensorBoard")]
    public void LibraryPackage_XmlDocsLoseNoDocsOfThePublicApi(string id)
    {
        // The Debug build's XML beside these tests is the compiler's own, with every member.
        var all = MemberIdsIn(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, $"{id}.xml")));
        using var package = ZipFile.OpenRead(PackagePath(id, "nupkg"));
        var packed = package.GetEntry($"lib/net10.0/{id}.xml")!;
        var documented = MemberIdsIn(ReadAll(packed));
        var surface = VisibleSurface.Of(ReadAll(package.GetEntry($"lib/net10.0/{id}.dll")!));

        var publicOnes = all.Where(surface.IsVisibleAndHasNoHiddenNamesake).ToList();
        Assert.That(publicOnes, Is.Not.Empty);
        Assert.That(publicOnes.Where(d => !documented.Contains(d)), Is.Empty, $"{id}: the docs of every public member are packed");
        Assert.That(documented.Count, Is.LessThan(all.Count), $"{id}: internal members are documented in the source");
    }

    private static HashSet<string> MemberIdsIn(byte[] xml) =>
        XDocument.Load(new MemoryStream(xml)).Descendants("member").Select(m => (string)m.Attribute("name")!).ToHashSet(StringComparer.Ordinal);

    private async Task PackAsync(string project)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _root,
        };
        foreach (var arg in new[] { "pack", Path.Combine("src", project), "-c", "Release", "--no-restore", "-o", _output, "-nologo" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(PackTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet pack {project} did not end within {PackTimeout.TotalMinutes:N0} min\n{await output}\n{await error}");
        }

        Assert.That(process.ExitCode, Is.Zero, $"dotnet pack {project}\n{await output}\n{await error}");
    }

    private string PackagePath(string id, string extension)
    {
        var path = Path.Combine(_output, $"{id}.0.1.0.{extension}");
        Assert.That(File.Exists(path), Is.True, $"{path}; packed: {string.Join(", ", Directory.GetFiles(_output).Select(Path.GetFileName))}");
        return path;
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static string SourceLinkOf(byte[] pdb)
    {
        using var provider = MetadataReaderProvider.FromPortablePdbStream(new MemoryStream(pdb));
        var reader = provider.GetMetadataReader();
        foreach (var handle in reader.CustomDebugInformation)
        {
            var information = reader.GetCustomDebugInformation(handle);
            if (reader.GetGuid(information.Kind) == SourceLinkKind)
            {
                return Encoding.UTF8.GetString(reader.GetBlobBytes(information.Value));
            }
        }

        return string.Empty;
    }

    private static string PdbPathIn(byte[] dll)
    {
        using var pe = new PEReader(new MemoryStream(dll));
        var codeView = pe.ReadDebugDirectory().First(e => e.Type == DebugDirectoryEntryType.CodeView);
        return pe.ReadCodeViewDebugDirectoryData(codeView).Path;
    }

    /// <summary>
    /// The types and member names an assembly's users see, read from its metadata by name (not by
    /// doc ID, so it does not repeat the build's own spelling of signatures).
    /// </summary>
    private sealed class VisibleSurface
    {
        private readonly HashSet<string> _visibleMembers = new(StringComparer.Ordinal);
        private readonly HashSet<string> _hiddenMembers = new(StringComparer.Ordinal);

        public HashSet<string> Types { get; } = new(StringComparer.Ordinal);

        public static VisibleSurface Of(byte[] dll)
        {
            using var pe = new PEReader(new MemoryStream(dll));
            var reader = pe.GetMetadataReader();
            var surface = new VisibleSurface();
            foreach (var handle in reader.TypeDefinitions)
            {
                var type = reader.GetTypeDefinition(handle);
                var name = NameOf(reader, type);
                var typeVisible = IsVisible(reader, type);
                if (typeVisible)
                {
                    surface.Types.Add(name);
                }

                foreach (var method in type.GetMethods().Select(reader.GetMethodDefinition))
                {
                    // A private method named "Interface.Member" implements it explicitly: users call it through the interface.
                    var methodName = reader.GetString(method.Name);
                    var explicitImplementation = methodName.Contains('.', StringComparison.Ordinal) && !methodName.StartsWith('.');
                    surface.Add(name, methodName, typeVisible && (IsPublicOrProtected(method.Attributes) || explicitImplementation));
                }

                foreach (var field in type.GetFields().Select(reader.GetFieldDefinition))
                {
                    var access = field.Attributes & FieldAttributes.FieldAccessMask;
                    surface.Add(name, reader.GetString(field.Name), typeVisible && access is FieldAttributes.Public or FieldAttributes.Family or FieldAttributes.FamORAssem);
                }

                foreach (var property in type.GetProperties().Select(reader.GetPropertyDefinition))
                {
                    var accessors = property.GetAccessors();
                    var visible = new[] { accessors.Getter, accessors.Setter }.Any(a => !a.IsNil && typeVisible && IsPublicOrProtected(reader.GetMethodDefinition(a).Attributes));
                    surface.Add(name, reader.GetString(property.Name), visible);
                }

                foreach (var @event in type.GetEvents().Select(reader.GetEventDefinition))
                {
                    var adder = @event.GetAccessors().Adder;
                    surface.Add(name, reader.GetString(@event.Name), typeVisible && IsPublicOrProtected(reader.GetMethodDefinition(adder).Attributes));
                }
            }

            return surface;
        }

        /// <summary>A documented type is visible; a documented member is in a visible type and has a visible member of its name.</summary>
        public bool IsVisible(string docId)
        {
            var (type, member) = Split(docId);
            return member is null ? Types.Contains(type) : _visibleMembers.Contains(type + "::" + member);
        }

        public bool IsVisibleAndHasNoHiddenNamesake(string docId)
        {
            var (type, member) = Split(docId);
            return member is null ? Types.Contains(type) : _visibleMembers.Contains(type + "::" + member) && !_hiddenMembers.Contains(type + "::" + member);
        }

        private void Add(string type, string member, bool visible) => (visible ? _visibleMembers : _hiddenMembers).Add(type + "::" + member);

        // "M:N.T`1.Name``1(A,B)~R" -> ("N.T`1", "Name"); "T:N.T`1" -> ("N.T`1", null). Explicit
        // implementations are spelt with # for dots and {} for angle brackets.
        private static (string Type, string? Member) Split(string docId)
        {
            var body = docId[2..];
            if (docId.StartsWith("T:", StringComparison.Ordinal))
            {
                return (body, null);
            }

            var end = body.IndexOfAny(['(', '~']);
            body = end < 0 ? body : body[..end];
            var dot = body.LastIndexOf('.');
            var member = body[(dot + 1)..];
            var arity = member.IndexOf("``", StringComparison.Ordinal);
            member = arity < 0 ? member : member[..arity];
            member = member switch
            {
                "#ctor" => ".ctor",
                "#cctor" => ".cctor",
                _ => member.Replace('#', '.').Replace('{', '<').Replace('}', '>').Replace('@', ','),
            };
            return (body[..dot], member);
        }

        private static string NameOf(MetadataReader reader, TypeDefinition type)
        {
            var name = reader.GetString(type.Name);
            if (type.IsNested)
            {
                return NameOf(reader, reader.GetTypeDefinition(type.GetDeclaringType())) + "." + name;
            }

            var space = reader.GetString(type.Namespace);
            return space.Length == 0 ? name : $"{space}.{name}";
        }

        private static bool IsVisible(MetadataReader reader, TypeDefinition type) => (type.Attributes & TypeAttributes.VisibilityMask) switch
        {
            TypeAttributes.Public => true,
            TypeAttributes.NestedPublic or TypeAttributes.NestedFamily or TypeAttributes.NestedFamORAssem => IsVisible(reader, reader.GetTypeDefinition(type.GetDeclaringType())),
            _ => false,
        };

        private static bool IsPublicOrProtected(MethodAttributes attributes) =>
            (attributes & MethodAttributes.MemberAccessMask) is MethodAttributes.Public or MethodAttributes.Family or MethodAttributes.FamORAssem;
    }
}
