using Mep.Protocol.Messages;

namespace Mep.Grains.UserEndpoints;

/// <summary>
/// Short tasks go to the UEP several to a broker message (<see cref="BrokerNames.TaskBundleType"/>): the broker, this
/// silo and the worker each pay per message, and a no-op's message cost more than its run. A worker holds a bundle
/// whole, so a bundle is sized by run time to about <see cref="Broker.BrokerOptions.TaskBundleWork"/> of work: what a
/// worker may hold beyond its slots stays small, and long tasks go one to a message as before.
/// </summary>
public sealed partial class UserEndpointGrain
{
    // Decay of the run time estimate per result once the runs are shorter than it.
    private const double RunTimeDecay = 0.9;

    /// <summary>
    /// The UEP's recent run time: it rises at once to a longer run and falls back slowly (a tenth of the way per
    /// shorter result), so a burst of long tasks stops bundling at its first result and short ones resume it only
    /// after many. Null until a result is seen: the first tasks of an activation go one to a message.
    /// </summary>
    private TimeSpan? _runTime;

    private void ObserveRunTime(TaskResultMessage result)
    {
        var run = result.CompletedAt - result.StartedAt;
        if (run < TimeSpan.Zero)
        {
            return; // clocks disagree: says nothing about the run
        }

        _runTime = _runTime is not { } estimate || run >= estimate
            ? run
            : TimeSpan.FromTicks((long)((estimate.Ticks * RunTimeDecay) + (run.Ticks * (1 - RunTimeDecay))));
    }

    /// <summary>Tasks per message for the next publish: 1 unless the UEP takes bundles and its tasks are short.</summary>
    private int BundleSize()
    {
        var work = _brokerOptions.TaskBundleWork;
        if (!S.TakesTaskBundles || _runTime is not { } run || work <= TimeSpan.Zero || _brokerOptions.MaxTaskBundle <= 1)
        {
            return 1;
        }

        // A run under a microsecond is measured as one: the ratio stays finite and the cap applies.
        var size = work.Ticks / Math.Max(run.Ticks, TimeSpan.TicksPerMicrosecond);
        return (int)Math.Clamp(size, 1, _brokerOptions.MaxTaskBundle);
    }

    /// <summary>A process's Started event says whether its workers read bundles; a new process says it afresh.</summary>
    private void NoteStarted(EndpointEvent ev)
    {
        if (ev.Pid is { } pid && S.Pid is { } current && pid != current)
        {
            return; // an earlier process's word (OnSignal ignores it the same way)
        }

        if (S.TakesTaskBundles != (ev.TakesTaskBundles == true))
        {
            S.TakesTaskBundles = ev.TakesTaskBundles == true;
            _dirty = true;
        }
    }
}
