using Mep.Endpoint.Worker;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class TaskBundlesTests
{
    [Fact]
    public void A_bundle_is_acked_with_its_last_part_when_every_part_was_acked()
    {
        var bundles = new TaskBundles();
        var parts = bundles.Split(deliveryTag: 7, parts: 3);

        Assert.All(parts, p => Assert.True(TaskBundles.IsPart(p)));
        Assert.False(TaskBundles.IsPart(7));
        Assert.Equal(3, parts.Distinct().Count());
        Assert.Null(bundles.Settle(parts[2], ack: true));
        Assert.Null(bundles.Settle(parts[0], ack: true));
        Assert.Equal((7UL, true), bundles.Settle(parts[1], ack: true));
        Assert.Equal(0, bundles.Open);
    }

    [Fact]
    public void One_part_handed_back_hands_the_whole_bundle_back_once_all_are_settled()
    {
        var bundles = new TaskBundles();
        var parts = bundles.Split(deliveryTag: 3, parts: 2);

        Assert.Null(bundles.Settle(parts[0], ack: false));
        Assert.Equal((3UL, false), bundles.Settle(parts[1], ack: true));
    }

    [Fact]
    public void A_part_settled_twice_or_unknown_counts_once_and_bundles_stay_apart()
    {
        var bundles = new TaskBundles();
        var first = bundles.Split(deliveryTag: 1, parts: 2);
        var second = bundles.Split(deliveryTag: 2, parts: 1);

        Assert.Null(bundles.Settle(first[0], ack: true));
        Assert.Null(bundles.Settle(first[0], ack: true));
        Assert.Null(bundles.Settle(12345, ack: true));
        Assert.Equal((2UL, true), bundles.Settle(second[0], ack: true));
        Assert.Equal(1, bundles.Open);
        Assert.Equal((1UL, true), bundles.Settle(first[1], ack: true));
    }
}
