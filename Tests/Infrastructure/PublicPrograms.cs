namespace Mep.Tests.Infrastructure;

/// <summary>
/// MEP's programs copied, once per test run, to a world-readable directory under /var/tmp. The service account and
/// throwaway users must be able to run them, and the checkout may sit in a private directory (mktemp -d, /root).
/// Each program comes from its own build output: the test output merges dependencies and lacks some of theirs.
/// </summary>
public static class PublicPrograms
{
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
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var (framework, configuration) = (testOutput.Name, testOutput.Parent!.Name);
        var dir = Path.Combine(RabbitMqNode.RepositoryRoot(), project, "bin", configuration, framework);
        return System.IO.Directory.Exists(dir) ? dir : throw new InvalidOperationException($"{dir} not found: build the solution first");
    }

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
