using System.Diagnostics;
using System.Text.Json.Nodes;
using Tracker.Internal;

namespace Tracker.Tests;

/// <summary>The command line run.json records: secrets in it are written ***.</summary>
public sealed class CommandLineRedactionTests : RunTestBase
{
    [TestCase("--api-key", "abc123")]
    [TestCase("--token", "abc123")]
    [TestCase("--password", "abc123")]
    [TestCase("--secret", "abc123")]
    [TestCase("--client-secret", "abc123")]
    [TestCase("--hf_token", "abc123")]
    [TestCase("-ApiKey", "abc123")]
    [TestCase("--db-password", "abc123")]
    public void OptionAndItsValue_ValueRedacted(string option, string value)
    {
        Assert.That(CommandLineRedaction.Redact(["train.dll", option, value, "--epochs", "3"], null), Is.EqualTo($"train.dll {option} *** --epochs 3"));
        Assert.That(CommandLineRedaction.Redact(["train.dll", $"{option}={value}", "--epochs=3"], null), Is.EqualTo($"train.dll {option}=*** --epochs=3"));
    }

    [TestCase("OPENAI_API_KEY=sk-1")]
    [TestCase("AWS_SECRET_ACCESS_KEY=abc")]
    [TestCase("HF_TOKEN=hf_abc")]
    [TestCase("MY_SECRET=abc")]
    [TestCase("DB_PASSWORD=abc")]
    [TestCase("PASSWORD=abc")]
    [TestCase("PGPASSWORD=abc")]
    public void EnvironmentStylePair_ValueRedacted(string pair)
    {
        var name = pair[..pair.IndexOf('=', StringComparison.Ordinal)];
        Assert.That(CommandLineRedaction.Redact(["train.dll", pair, "lr=0.1"], null), Is.EqualTo($"train.dll {name}=*** lr=0.1"));
    }

    [Test]
    public void TrackerKey_RedactedWherever_ItStands()
    {
        Assert.That(CommandLineRedaction.Redact(["train.dll", "trk_AbC", "--key-for-server", "x", "--auth=trk_AbC", "-k", "trk_9"], null),
            Is.EqualTo("train.dll *** --key-for-server x --auth=*** -k ***"));
    }

    [TestCase("https://me:s3cr3t@example.com/data", "https://me:***@example.com/data")]
    [TestCase("--data=postgres://me:s3cr3t@db:5432/runs", "--data=postgres://me:***@db:5432/runs")]
    [TestCase("Host=db;Username=me;Password=s3cr3t;Database=runs", "Host=db;Username=me;Password=***;Database=runs")]
    [TestCase("--db=Password=s3cr3t;Host=db", "--db=Password=***;Host=db")]
    [TestCase("Server=db;UID=me;Pwd=s3cr3t", "Server=db;UID=me;Pwd=***")]
    public void SecretInsideAnArgument_UrlPasswordOrConnectionStringPair_Redacted(string arg, string expected)
    {
        Assert.That(CommandLineRedaction.Redact(["train.dll", arg, "--lr", "0.1"], null), Is.EqualTo($"train.dll {expected} --lr 0.1"));
    }

    [Test]
    public void ArgumentsThatOnlyLookAlike_AreKept()
    {
        string[] args = ["/home/me/key/train.dll", "--max-tokens", "512", "--keys-file", "keys.txt", "--monkey", "7", "tokenizer=bpe", "--dropout=0.1",
            "https://me@example.com/a:b", "a=1;b=2", "--sweep=lr=0.1;key-size=3"];

        Assert.That(CommandLineRedaction.Redact(args, null), Is.EqualTo(string.Join(' ', args)));
    }

    [Test]
    public void SecretOptionFollowedByAnotherOption_TheOtherOptionKept()
    {
        Assert.That(CommandLineRedaction.Redact(["train.dll", "--token", "--epochs", "3"], null), Is.EqualTo("train.dll --token --epochs 3"));
    }

    [Test]
    public void ExtraNames_MatchWithOrWithoutDashesAndCaseOrUnderscores()
    {
        string[] args = ["train.dll", "--hf-auth", "a", "HF_AUTH=b", "--Hf_Auth=c", "--other", "d"];

        Assert.That(CommandLineRedaction.Redact(args, ["--hf-auth"]), Is.EqualTo("train.dll --hf-auth *** HF_AUTH=*** --Hf_Auth=*** --other d"));
        Assert.That(CommandLineRedaction.Redact(args, null), Is.EqualTo(string.Join(' ', args)), "not a secret name by itself");
    }

    [Test]
    public void ArgumentWithSpacesOrQuotes_IsQuoted()
    {
        Assert.That(CommandLineRedaction.Redact(["train.dll", "my data", "say \"hi\""], null), Is.EqualTo("train.dll \"my data\" \"say \\\"hi\\\"\""));
    }

    [Test]
    public async Task ProgramStartedWithAKeyOnItsCommandLine_RunJsonHasItRedacted()
    {
        var start = TestApp.Start(Root, "finish", 3, id: "finish");
        foreach (var arg in new[] { "--api-key", "trk_SeCrEt1", "--token=t0k3n", "HF_TOKEN=hf_s3cr3t", "--lr", "0.1" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.That(process.ExitCode, Is.Zero, await output + await error);

        var runJson = await File.ReadAllTextAsync(Path.Combine(Root, "process", "finish", "run.json"));
        var commandLine = (string?)JsonNode.Parse(runJson)!["command_line"];
        Assert.That(commandLine, Does.EndWith("finish " + Root + " 3 finish --api-key *** --token=*** HF_TOKEN=*** --lr 0.1"));
        Assert.That(runJson, Does.Not.Contain("SeCrEt1").And.Not.Contain("t0k3n").And.Not.Contain("hf_s3cr3t"));
    }
}
