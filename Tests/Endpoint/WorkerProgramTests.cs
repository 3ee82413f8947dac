using System.Diagnostics;
using Mep.Endpoint;
using Mep.Endpoint.Worker;
using Mep.Protocol;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Endpoint;

/// <summary>The worker program refuses bad usage and unsafe or unusable documents: exit 2, one line naming the cause.</summary>
public sealed class WorkerProgramTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-worker-doc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DocumentPath => Path.Combine(_dir, "worker.json");

    private WorkerDocument Document() => new(
        Guid.NewGuid().ToString(),
        new BrokerCredentials("127.0.0.1", 1, "/", "u", "secret-password", "", "mep.events", "0.uep.x", "ns", "k"),
        2, TaskLimits.Default, null, _dir, 1, 60);

    private void Write(WorkerDocument doc, UnixFileMode mode)
    {
        if (doc.Broker.TaskQueue.Length == 0)
        {
            doc = doc with { Broker = doc.Broker with { TaskQueue = Mep.Protocol.Messages.BrokerNames.TaskQueue(doc.UepId) } };
        }

        File.WriteAllText(DocumentPath, ProtocolJson.Serialize(doc));
        File.SetUnixFileMode(DocumentPath, mode);
    }

    private async Task<(int Exit, string LastLine, string Stderr)> RunAsync(params string[] args)
    {
        using var worker = WorkerProcess.Start(args, _dir);
        var exit = await worker.WaitForExitAsync(Deadline);
        Assert.True(exit is not null, worker.Stderr);
        return (exit.Value, worker.Stderr.TrimEnd().Split('\n')[^1], worker.Stderr);
    }

    [Theory]
    [InlineData(new string[0], "option --document is required")]
    [InlineData(new[] { "--document", "/x" }, "option --block is required")]
    [InlineData(new[] { "--document", "/x", "--block", "b", "--extra" }, "unknown argument '--extra'")]
    public async Task Bad_usage_exits_2_with_one_line_naming_the_option(string[] args, string message)
    {
        var (exit, last, stderr) = await RunAsync(args);

        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains(message, last);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task A_document_readable_by_others_is_refused_without_echoing_it()
    {
        Write(Document(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var (exit, last, stderr) = await RunAsync("--document", DocumentPath, "--block", "b1");

        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains($"worker document {DocumentPath} has mode 644", last);
        Assert.DoesNotContain("secret-password", stderr);
    }

    [Fact]
    public async Task A_document_owned_by_someone_else_is_refused()
    {
        Assert.True(Environment.UserName == "root", "this test changes a file's owner and needs root");
        Write(Document(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using (var chown = Process.Start("chown", ["nobody", DocumentPath]))
        {
            await chown.WaitForExitAsync();
            Assert.Equal(0, chown.ExitCode);
        }

        var (exit, last, _) = await RunAsync("--document", DocumentPath, "--block", "b1");

        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains("is owned by uid", last);
        Assert.Contains("not by this user (uid 0)", last);
    }

    [Fact]
    public async Task A_symbolic_link_or_a_directory_is_refused()
    {
        Write(Document(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var link = Path.Combine(_dir, "link.json");
        File.CreateSymbolicLink(link, DocumentPath);

        var (exit, last, _) = await RunAsync("--document", link, "--block", "b1");
        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains("is a symbolic link, not a regular file", last);

        var dir = Directory.CreateDirectory(Path.Combine(_dir, "dir.json"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute).FullName;
        (exit, last, _) = await RunAsync("--document", dir, "--block", "b1");
        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains("worker document", last);
    }

    [Theory]
    [InlineData("max_tasks", "max_tasks must be between 1 and 4096")]
    [InlineData("deaths", "limits.max_worker_deaths must be at least 1")]
    [InlineData("run", "run_directory /nonexistent-mep does not exist")]
    [InlineData("queue", "broker.task_queue is not mep.uep.")]
    public async Task An_inconsistent_document_is_refused_naming_the_field(string broken, string message)
    {
        var doc = Document();
        doc = broken switch
        {
            "max_tasks" => doc with { MaxTasks = 0 },
            "deaths" => doc with { Limits = doc.Limits with { MaxWorkerDeaths = 0 } },
            "run" => doc with { RunDirectory = "/nonexistent-mep" },
            _ => doc with { Broker = doc.Broker with { TaskQueue = "mep.uep.other.tasks" } },
        };
        Write(doc, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var (exit, last, _) = await RunAsync("--document", DocumentPath, "--block", "b1");

        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains(message, last);
    }
}
