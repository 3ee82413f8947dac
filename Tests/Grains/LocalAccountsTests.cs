using Mep.Identity;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>Against this node's real user database.</summary>
public sealed class LocalAccountsTests
{
    [Fact]
    public void Finds_real_accounts_and_not_made_up_ones()
    {
        Assert.Equal(0u, LocalAccounts.Find("root")!.Uid);
        Assert.Null(LocalAccounts.Find("no-such-user-" + Guid.NewGuid().ToString("N")[..8]));
        Assert.Null(LocalAccounts.Find(""));
    }

    [Theory]
    [InlineData("root", "mep", "is root")]
    [InlineData("daemon", "daemon", "the service's own account")]
    [InlineData("no-such-user-7f3a", "mep", "does not exist on this node")]
    public void Unusable_accounts_are_refused_with_the_reason(string username, string service, string reason)
    {
        var (account, refusal) = LocalAccounts.Resolve(username, service);
        Assert.Null(account);
        Assert.Contains(reason, refusal);
        Assert.Contains(username, refusal);
    }

    [Fact]
    public void An_ordinary_account_resolves()
    {
        var (account, refusal) = LocalAccounts.Resolve("daemon", "mep");
        Assert.Null(refusal);
        Assert.Equal("daemon", account!.Name);
    }
}
