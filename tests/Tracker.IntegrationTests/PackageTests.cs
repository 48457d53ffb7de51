using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;

namespace Tracker.IntegrationTests;

/// <summary>
/// The packages as <c>dotnet pack -c Release</c> makes them (into a temp folder, so a plain
/// <c>dotnet test</c> checks them too; after .ci/run's packs the builds are incremental): symbols
/// with SourceLink and no build-machine paths, a tool without the server's apphost or natives for
/// platforms .NET does not run on, and READMEs that cover online mode, media, login and run.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(8);

    // The Portable PDB's SourceLink record (docs: github.com/dotnet/runtime, PortablePdb-Metadata.md).
    private static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    private static readonly string[] ToolRuntimeIdentifiers =
        ["linux-x64", "linux-arm64", "linux-arm", "linux-musl-x64", "linux-musl-arm64", "linux-musl-arm", "osx-x64", "osx-arm64", "win-x64", "win-arm64", "win-x86"];

    private string _root = string.Empty;
    private string _output = string.Empty;

    [OneTimeSetUp]
    public async Task Pack()
    {
        _root = RepositoryRoot();
        _output = Path.Combine(Path.GetTempPath(), "tracker-packages", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_output);

        // The tool first: it builds the libraries in Release, so their packs only pack.
        foreach (var project in new[] { "Tracker.Cli", "Tracker.Format", "Tracker.Sdk" })
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
    public void PackageReadme_CoversOnlineModeMediaLoginAndRun(string id, params string[] sections)
    {
        using var package = ZipFile.OpenRead(PackagePath(id, "nupkg"));
        var readme = Encoding.UTF8.GetString(ReadAll(package.GetEntry("README.md")!));

        foreach (var section in sections)
        {
            Assert.That(readme, Does.Contain(section), $"{id}'s README covers '{section}'");
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Tracker.Sdk.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Tracker.Sdk.sln above {AppContext.BaseDirectory}: the tests run from the repository's build output.");
    }

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
}
