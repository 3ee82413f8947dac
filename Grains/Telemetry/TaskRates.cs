using System.Diagnostics.Metrics;
using Mep.Contracts.Model;

namespace Mep.Grains.Telemetry;

/// <summary>
/// Tasks this silo accepted and recorded outcomes of in the last five minutes, per endpoint: the status page's task
/// rates. It listens to <see cref="MepMetrics"/>' own counters (the numbers /metrics publishes) and keeps one bucket
/// per second, so memory stays bounded whatever the load.
/// </summary>
public sealed class TaskRates : IDisposable
{
    private const int WindowSeconds = 300;
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, Window> _endpoints = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;

    public TaskRates(TimeProvider time)
    {
        _time = time;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MepMetrics.MeterName && instrument.Name is "mep.tasks.submitted" or "mep.tasks.completed")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    public IReadOnlyList<EndpointTaskCounts> Snapshot()
    {
        var now = Second();
        lock (_gate)
        {
            return _endpoints
                .Select(e => new EndpointTaskCounts(e.Key, e.Value.Sum(Kind.Submitted, now, 60), e.Value.Sum(Kind.Submitted, now, WindowSeconds),
                    e.Value.Sum(Kind.Succeeded, now, WindowSeconds), e.Value.Sum(Kind.Failed, now, WindowSeconds)))
                .OrderBy(c => c.EndpointId, StringComparer.Ordinal)
                .ToList();
        }
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? endpoint = null;
        var kind = Kind.Submitted;
        foreach (var tag in tags)
        {
            if (tag.Key == "endpoint")
            {
                endpoint = tag.Value as string;
            }
            else if (tag.Key == "state")
            {
                kind = tag.Value as string == "success" ? Kind.Succeeded : Kind.Failed;
            }
        }

        if (endpoint is null)
        {
            return;
        }

        var now = Second();
        lock (_gate)
        {
            if (!_endpoints.TryGetValue(endpoint, out var window))
            {
                _endpoints[endpoint] = window = new Window();
            }

            window.Add(kind, now, value);
        }
    }

    private long Second() => _time.GetUtcNow().ToUnixTimeSeconds();

    public void Dispose() => _listener.Dispose();

    private enum Kind
    {
        Submitted,
        Succeeded,
        Failed,
    }

    /// <summary>A ring of per-second counts; a slot whose second is older than the window counts as empty.</summary>
    private sealed class Window
    {
        private readonly long[] _seconds = new long[WindowSeconds];
        private readonly long[,] _counts = new long[WindowSeconds, 3];

        public void Add(Kind kind, long second, long value)
        {
            var slot = (int)(second % WindowSeconds);
            if (_seconds[slot] != second)
            {
                _seconds[slot] = second;
                _counts[slot, 0] = _counts[slot, 1] = _counts[slot, 2] = 0;
            }

            _counts[slot, (int)kind] += value;
        }

        public long Sum(Kind kind, long now, int seconds)
        {
            long sum = 0;
            for (var slot = 0; slot < WindowSeconds; slot++)
            {
                if (_seconds[slot] > now - seconds && _seconds[slot] <= now)
                {
                    sum += _counts[slot, (int)kind];
                }
            }

            return sum;
        }
    }
}
