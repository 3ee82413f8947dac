namespace Mep.Tests.Infrastructure;

/// <summary>
/// MEP's programs copied, once per test run, to a world-readable directory under /var/tmp. The service account and
/// throwaway users must be able to run them, and the checkout may sit in a private directory (mktemp -d, /root).
/// Each program comes from its own build output: the test output merges dependencies and lacks some of theirs, or,
/// for the programs that ship as Native AOT binaries, from their published directory when <see cref="PublishedVariable"/>
/// names one (run.sh test publishes them once, so the end-to-end tests run what a site runs, not a JIT build).
/// </summary>
public static class PublicPrograms
{
    /// <summary>
    /// A directory laid out as run.sh publishes programs (<c>endpoint/mep-endpoint</c>, <c>launcher/mep-launcher</c>):
    /// those projects are taken from there instead of their build output.
    /// </summary>
    public const string PublishedVariable = "MEP_TEST_PUBLISHED_PROGRAMS";

    private static readonly Dictionary<string, string> Published = new(StringComparer.Ordinal)
    {
        ["Endpoint"] = "endpoint",
        ["Launcher"] = "launcher",
    };

    private static readonly Lazy<string> Root = new(CreateRoot, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly object Gate = new();

    /// <summary>The directory holding <paramref name="project"/>'s build output (e.g. "Endpoint").</summary>
    public static string DirectoryOf(string project)
    {
        var target = Path.Combine(Root.Value, project);
        lock (Gate)
        {
            if (!System.IO.Directory.Exists(target))
            {
                var staging = target + ".partial";
                Copy(BuildOutput(project), staging);
                System.IO.Directory.Move(staging, target);
            }
        }

        return target;
    }

    public static string BuildOutput(string project)
    {
        if (Environment.GetEnvironmentVariable(PublishedVariable) is { Length: > 0 } bin && Published.TryGetValue(project, out var name))
        {
            var published = Path.Combine(bin, name);
            return System.IO.Directory.Exists(published)
                ? published
                : throw new InvalidOperationException($"{published} not found: {PublishedVariable} names a directory without {name}/");
        }

        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var (framework, configuration) = (testOutput.Name, testOutput.Parent!.Name);
        var dir = Path.Combine(RabbitMqNode.RepositoryRoot(), project, "bin", configuration, framework);
        return System.IO.Directory.Exists(dir) ? dir : throw new InvalidOperationException($"{dir} not found: build the solution first");
    }

    /// <summary>
    /// How to run program <paramref name="name"/> of <paramref name="project"/> from its public copy: a build output
    /// holds <c>NAME.dll</c>, run by the dotnet host; a Native AOT publish holds only the binary, run as it is.
    /// </summary>
    public static (string Program, IReadOnlyList<string> Prefix) Command(string project, string name) => CommandIn(DirectoryOf(project), name);

    /// <summary><see cref="Command"/> for a program directory of the caller's own (a copy, say).</summary>
    public static (string Program, IReadOnlyList<string> Prefix) CommandIn(string directory, string name)
    {
        var dll = Path.Combine(directory, name + ".dll");
        return File.Exists(dll) ? (DotnetHost, [dll]) : (Path.Combine(directory, name), []);
    }

    /// <summary>The dotnet host running the tests (DOTNET_HOST_PATH), or the machine's.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path
        : "/usr/share/dotnet/dotnet";

    private static string CreateRoot()
    {
        var root = Path.Combine("/var/tmp", $"mep-test-programs-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A program may still be exiting; /var/tmp is cleaned by the system eventually.
            }
        };
        return root;
    }

    private static void Copy(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        File.SetUnixFileMode(to, (UnixFileMode)0b111_101_101);
        foreach (var file in System.IO.Directory.EnumerateFiles(from))
        {
            var dest = Path.Combine(to, Path.GetFileName(file));
            File.Copy(file, dest, overwrite: true);
            var mode = File.GetUnixFileMode(file);
            File.SetUnixFileMode(dest, mode | UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        foreach (var dir in System.IO.Directory.EnumerateDirectories(from))
        {
            Copy(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }
}
