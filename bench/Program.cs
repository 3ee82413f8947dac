using System.CommandLine;
using Mep.Bench;
using Mep.Streams.RabbitMQ;
using Spectre.Console;

// mep-bench streams: events/s through the RabbitMQ stream provider against raw RabbitMQ, same broker, same run.
// Exit codes: 0 measured (whatever the ratio), 1 a round did not complete in time, 2 usage or broker error.

var host = Opt("--host", "127.0.0.1", "Broker host");
var amqpPort = Opt("--amqp-port", 5672, "Broker AMQP port");
var mgmtPort = Opt("--mgmt-port", 15672, "Broker management API port (creates and deletes the virtual host)");
var user = Opt("--user", "guest", "Broker user (needs the administrator tag to create a virtual host)");
var passwordFile = new Option<FileInfo?>("--password-file") { Description = "File holding the user's password (default: guest)" };
var vhost = new Option<string?>("--vhost") { Description = "Virtual host to use (created if missing); default: a fresh one, deleted at the end" };
var streams = Opt("--streams", 100, "Streams (one subscriber grain each)");
var events = Opt("--events", 1000, "Events per stream and round");
var size = Opt("--message-size", 256, "Body size in bytes");
var publishers = Opt("--publishers", 4, "External publishers (one connection each; a stream has one publisher)");
var confirmBatch = Opt("--confirm-batch", 256, "Publishes per publisher between waits for the broker's confirms");
var rounds = Opt("--rounds", 3, "Measured rounds per path (the summary takes the median)");
var orleans = Opt("--orleans-producers", true, "Also measure Orleans producers (stream.OnNextAsync, every stream at once)");
var live = Opt("--live", true, "Measure publishing and consuming at once (the acceptance figure); false: only the drain, for sweeps");
var drain = Opt("--drain", true, "Also measure draining a full round from paused consumers (raw and provider)");
var timeout = Opt("--timeout", 300, "Seconds a round may take before it counts as incomplete");
var results = Opt("--results", Path.Combine("bench", "results"), "Directory for streams-<time>.md and streams.csv");
var partitions = Opt("--partitions", 8, "Partition queues (provider and raw baseline alike)");
var queueType = Opt("--queue-type", RabbitMqQueueType.Quorum, "Queue type (provider and raw baseline alike)");
var prefetch = Opt("--prefetch", (int)new Mep.Streams.RabbitMQ.RabbitMqStreamOptions().Prefetch, "Unacked deliveries per queue (provider and raw baseline alike; default: the provider's)");
var pollMs = Opt("--poll-ms", 100, "Pulling agent: GetQueueMsgsTimerPeriod in milliseconds");
var batchSize = Opt("--batch-size", 1, "Pulling agent: BatchContainerBatchSize");
var cacheSize = Opt("--cache-size", 4096, "Pulling agent's queue cache size (SimpleQueueCacheOptions.CacheSize)");
var verbose = Opt("--verbose", false, "Show the silo's informational log");

var streamsCommand = new Command("streams", "Events/s through the RabbitMQ stream provider vs raw publish-confirm-consume-ack")
{
    host, amqpPort, mgmtPort, user, passwordFile, vhost, streams, events, size, publishers, confirmBatch, rounds, live, orleans, drain, timeout,
    results, partitions, queueType, prefetch, pollMs, batchSize, cacheSize, verbose,
};
streamsCommand.SetAction(async (parse, ct) =>
{
    var console = AnsiConsole.Console;
    if (Console.IsOutputRedirected)
    {
        console.Profile.Width = 120; // logs and CI: Spectre would assume 80 columns and wrap the tables
    }
    BenchSettings settings;
    try
    {
        settings = new BenchSettings
        {
            Host = parse.GetRequiredValue(host),
            AmqpPort = Positive(parse.GetValue(amqpPort), "--amqp-port"),
            ManagementPort = Positive(parse.GetValue(mgmtPort), "--mgmt-port"),
            User = parse.GetRequiredValue(user),
            Password = parse.GetValue(passwordFile) is { } file ? File.ReadAllText(file.FullName).Trim() : "guest",
            VirtualHost = parse.GetValue(vhost),
            Streams = Positive(parse.GetValue(streams), "--streams"),
            EventsPerStream = Positive(parse.GetValue(events), "--events"),
            MessageSize = Positive(parse.GetValue(size), "--message-size"),
            Publishers = Positive(parse.GetValue(publishers), "--publishers"),
            ConfirmBatch = Positive(parse.GetValue(confirmBatch), "--confirm-batch"),
            Rounds = Positive(parse.GetValue(rounds), "--rounds"),
            Live = parse.GetValue(live),
            OrleansProducers = parse.GetValue(orleans),
            Drain = parse.GetValue(drain),
            Timeout = TimeSpan.FromSeconds(Positive(parse.GetValue(timeout), "--timeout")),
            ResultsDirectory = parse.GetRequiredValue(results),
            Partitions = Positive(parse.GetValue(partitions), "--partitions"),
            QueueType = parse.GetValue(queueType),
            Prefetch = (ushort)Math.Min(Positive(parse.GetValue(prefetch), "--prefetch"), ushort.MaxValue),
            PollPeriod = TimeSpan.FromMilliseconds(Positive(parse.GetValue(pollMs), "--poll-ms")),
            BatchContainerBatchSize = Positive(parse.GetValue(batchSize), "--batch-size"),
            CacheSize = Positive(parse.GetValue(cacheSize), "--cache-size"),
        };
        if (!settings.Live && !settings.Drain)
        {
            throw new ArgumentException("--live false and --drain false leave nothing to measure");
        }
    }
    catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
    {
        console.MarkupLine($"[red]mep-bench: {Markup.Escape(e.Message)}[/]");
        return 2;
    }

    var at = DateTimeOffset.UtcNow;
    IReadOnlyList<PhaseResult> measured;
    try
    {
        measured = await StreamBench.RunAsync(settings, parse.GetValue(verbose),
            line => console.MarkupLine($"[grey]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(line)}"), ct);
    }
    catch (Exception e) when (e is not OperationCanceledException)
    {
        console.MarkupLine($"[red]mep-bench: {Markup.Escape(e.Message)}[/]");
        return 2;
    }
    var summary = Summary.Of(measured);
    Report.Print(console, settings, measured, summary);
    var written = Report.Write(settings.ResultsDirectory, at, settings, measured, summary);
    console.MarkupLine($"[grey]written:[/] {Markup.Escape(written)} and streams.csv beside it");
    return summary.Complete ? 0 : 1;
});

var root = new RootCommand("mep-bench: MEP performance measurements") { streamsCommand, SiteCommand.Create() };
// Ctrl-C and SIGTERM cancel the action's token; the default 2 s before the process is ended would cut short the
// site harness's tear-down (silo, launcher, UEPs, broker), so it gets time to stop what it started.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(90) });

static Option<T> Opt<T>(string name, T defaultValue, string description) =>
    new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

static int Positive(int value, string name) =>
    value > 0 ? value : throw new ArgumentException($"{name} must be positive (got {value})");
