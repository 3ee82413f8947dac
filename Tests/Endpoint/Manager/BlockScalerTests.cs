using Xunit;
using Mep.Endpoint.Manager;
using Mep.Endpoint.Providers;

namespace Mep.Tests.Endpoint.Manager;

public sealed class BlockScalerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static ScalerDecision Decide(int ready, int min = 0, int max = 4, int slots = 4, params BlockView[] blocks) =>
        BlockScaler.Decide(new ScalerInput(ready, blocks, slots, min, max, TimeSpan.FromMinutes(2), Now));

    private static BlockView Block(string id, int running, BlockState state = BlockState.Running, double idleMinutes = 0) =>
        new(id, state, running, Now - TimeSpan.FromMinutes(idleMinutes));

    [Fact]
    public void Nothing_to_do_needs_no_block() => Assert.Equal(ScalerDecision.None, Decide(0));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4, 1)]
    [InlineData(5, 2)]
    [InlineData(100, 4)]
    public void Waiting_tasks_get_enough_blocks_up_to_the_maximum(int ready, int expected) =>
        Assert.Equal(expected, Decide(ready).Submit);

    [Fact]
    public void A_pending_block_counts_as_capacity_on_its_way()
    {
        // 4 waiting, one pending block of 4 slots: do not submit another job while the first waits in the scheduler.
        Assert.Equal(0, Decide(4, blocks: Block("a", 0, BlockState.Pending)).Submit);
        Assert.Equal(1, Decide(5, blocks: Block("a", 0, BlockState.Pending)).Submit);
    }

    [Fact]
    public void Running_tasks_count_towards_demand() =>
        Assert.Equal(1, Decide(1, blocks: Block("a", 4)).Submit);

    [Fact]
    public void Ended_blocks_are_not_capacity() =>
        Assert.Equal(1, Decide(1, blocks: Block("a", 0, BlockState.Ended)).Submit);

    [Fact]
    public void Min_blocks_are_kept_even_without_work() =>
        Assert.Equal(2, Decide(0, min: 2).Submit);

    [Fact]
    public void An_idle_block_is_given_back_only_after_the_idle_time_and_down_to_min_blocks()
    {
        Assert.Equal(ScalerDecision.None, Decide(0, blocks: Block("a", 0, idleMinutes: 1)));
        Assert.Equal(["a"], Decide(0, blocks: Block("a", 0, idleMinutes: 3)).Cancel);
        Assert.Equal(ScalerDecision.None, Decide(0, min: 1, blocks: Block("a", 0, idleMinutes: 3)));
    }

    [Fact]
    public void A_busy_block_or_waiting_tasks_keep_blocks()
    {
        Assert.Equal(ScalerDecision.None, Decide(0, blocks: Block("a", 1, idleMinutes: 3)));
        Assert.Equal(ScalerDecision.None, Decide(1, blocks: Block("a", 0, idleMinutes: 3)));
    }

    [Fact]
    public void Tasks_waiting_a_moment_ago_keep_every_block_active_for_the_idle_time()
    {
        // The last waiting task was just taken by a worker that has not reported it yet: its block is not idle.
        var idle = new[] { Block("a", 0, idleMinutes: 3) };
        var takenJustNow = new ScalerInput(0, idle, 4, 0, 4, TimeSpan.FromMinutes(2), Now, LastDemand: Now - TimeSpan.FromSeconds(5));
        Assert.Equal(ScalerDecision.None, BlockScaler.Decide(takenJustNow));
        Assert.Equal(["a"], BlockScaler.Decide(takenJustNow with { LastDemand = Now - TimeSpan.FromMinutes(2) }).Cancel);
    }

    [Fact]
    public void Pending_blocks_are_given_back_before_running_ones()
    {
        var decision = Decide(0, min: 1, blocks: [Block("run", 0, idleMinutes: 5), Block("wait", 0, BlockState.Pending, idleMinutes: 3)]);
        Assert.Equal(["wait"], decision.Cancel);
    }

    [Fact]
    public void A_block_whose_worker_has_not_reported_is_not_idle()
    {
        var starting = new BlockView("a", BlockState.Running, 0, Now - TimeSpan.FromMinutes(5), Starting: true);
        Assert.Equal(ScalerDecision.None, Decide(0, blocks: starting));
    }
}
