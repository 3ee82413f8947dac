using Mep.Endpoint.Providers;

namespace Mep.Endpoint.Manager;

/// <summary>A block as the scaler sees it: the provider's state and what its workers last reported.</summary>
/// <param name="Running">Tasks its workers run now.</param>
/// <param name="LastActive">When a task last started or ended in it, or when it was submitted.</param>
/// <param name="Starting">Running in the provider's eyes but no worker of it has reported yet: it may already hold
/// tasks it has not reported, so it is neither idle nor given back.</param>
internal sealed record BlockView(string BlockId, BlockState State, int Running, DateTimeOffset LastActive, bool Starting = false);

/// <param name="Ready">Tasks waiting in the queue (not yet taken by a worker).</param>
/// <param name="SlotsPerBlock">Tasks one block runs at once: workers per block × max_workers_per_node.</param>
/// <param name="BlockIdleTime">How long a block may run no task before it is given back (down to min_blocks).</param>
/// <param name="LastDemand">When tasks were last seen waiting in the queue. Every block counts as active then: a
/// worker that has just taken the last waiting task has not reported it yet, and its block must not look idle.</param>
internal sealed record ScalerInput(
    int Ready,
    IReadOnlyList<BlockView> Blocks,
    int SlotsPerBlock,
    int MinBlocks,
    int MaxBlocks,
    TimeSpan BlockIdleTime,
    DateTimeOffset Now,
    DateTimeOffset LastDemand = default);

internal sealed record ScalerDecision(int Submit, IReadOnlyList<string> Cancel)
{
    public static readonly ScalerDecision None = new(0, []);
}

/// <summary>
/// How many blocks a UEP should have, from its queue depth: Parsl's "simple" strategy in spirit. Out: enough blocks for
/// every waiting and running task, up to max_blocks (pending blocks count as capacity on the way, so a slow scheduler
/// queue does not make us submit job after job). In: a block that ran nothing for <see cref="ScalerInput.BlockIdleTime"/>
/// while nothing waits is given back, down to min_blocks; blocks still pending in the scheduler go first.
/// </summary>
internal static class BlockScaler
{
    public static ScalerDecision Decide(ScalerInput input)
    {
        var live = input.Blocks.Where(b => b.State != BlockState.Ended).ToList();
        var slots = Math.Max(1, input.SlotsPerBlock);
        var demand = (long)input.Ready + live.Sum(b => b.Running);
        var capacity = (long)live.Count * slots;

        var submit = 0;
        if (demand > capacity)
        {
            submit = (int)Math.Min(input.MaxBlocks - live.Count, (demand - capacity + slots - 1) / slots);
        }

        submit = Math.Max(submit, input.MinBlocks - live.Count);
        if (submit > 0)
        {
            return new ScalerDecision(submit, []);
        }

        if (input.Ready > 0)
        {
            return ScalerDecision.None;
        }

        var spare = live.Count - Math.Max(0, input.MinBlocks);
        if (spare <= 0)
        {
            return ScalerDecision.None;
        }

        var idle = live
            .Where(b => b.Running == 0 && !b.Starting && input.Now - Max(b.LastActive, input.LastDemand) >= input.BlockIdleTime)
            .OrderBy(b => b.State == BlockState.Pending ? 0 : 1)
            .ThenBy(b => b.LastActive)
            .Take(spare)
            .Select(b => b.BlockId)
            .ToList();
        return idle.Count == 0 ? ScalerDecision.None : new ScalerDecision(0, idle);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
