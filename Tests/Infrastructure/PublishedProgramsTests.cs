using Xunit;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// run.sh test publishes mep-endpoint and mep-launcher as Native AOT binaries and names them in
/// <see cref="PublicPrograms.PublishedVariable"/>: the tests must then run those, not the JIT build of the solution.
/// </summary>
public sealed class PublishedProgramsTests
{
    [Theory]
    [InlineData("Endpoint", "mep-endpoint")]
    [InlineData("Launcher", "mep-launcher")]
    public void The_tests_run_the_published_native_binary_when_one_is_named(string project, string name)
    {
        var (program, prefix) = PublicPrograms.Command(project, name);
        if (Environment.GetEnvironmentVariable(PublicPrograms.PublishedVariable) is not { Length: > 0 })
        {
            // A plain `dotnet test`: the build output, under the dotnet host.
            Assert.Equal([Path.Combine(PublicPrograms.DirectoryOf(project), name + ".dll")], prefix);
            return;
        }

        Assert.Empty(prefix);
        var directory = Path.GetDirectoryName(program)!;
        // No IL beside it, and no runtime config: nothing for a dotnet host to load.
        Assert.False(File.Exists(Path.Combine(directory, name + ".dll")), $"{directory} holds {name}.dll");
        Assert.False(File.Exists(Path.Combine(directory, name + ".runtimeconfig.json")), $"{directory} holds {name}.runtimeconfig.json");
        var head = new byte[4];
        using (var file = File.OpenRead(program))
        {
            file.ReadExactly(head);
        }

        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F'], head);
    }
}
