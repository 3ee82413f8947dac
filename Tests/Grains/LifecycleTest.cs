using Mep.Tests.EndToEnd;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>A test class that starts one <see cref="LifecycleSite"/> per test and disposes of it afterwards.</summary>
public abstract class LifecycleTest(SiteFixture site) : IAsyncLifetime
{
    protected SiteFixture Site { get; } = site;

    /// <summary>The test's site, once it started one (disposed after the test).</summary>
    private protected LifecycleSite? Lifecycle { get; set; }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        if (Lifecycle is not null)
        {
            await Lifecycle.DisposeAsync();
        }
    }
}
