using System.Text;
using Mep.Endpoint;
using Xunit;

namespace Mep.Tests.Endpoint;

/// <summary>The program's contract with the launcher when the start document is unusable: exit 2, cause on stderr.</summary>
public sealed class EndpointProgramTests
{
    [Theory]
    [InlineData("", "no start document on stdin")]
    [InlineData("not json", "start document is not valid")]
    [InlineData("{\"uep_id\": \"x\", \"surprise\": 1}", "start document is not valid")]
    public async Task Bad_start_document_exits_2_naming_the_cause(string stdin, string cause)
    {
        var home = Directory.CreateTempSubdirectory("mep-uep-home-").FullName;
        try
        {
            using var uep = EndpointProcess.Start(Encoding.UTF8.GetBytes(stdin), home);
            var exit = await uep.WaitForExitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(ExitCodes.BadStartDocument, exit);
            Assert.Contains($"ERROR bad start document: {cause}", uep.Stderr);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}
