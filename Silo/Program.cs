using Mep.Database.Sqlite;
using Mep.Grains;
using Mep.Grains.Audit;
using Mep.Grains.Broker;
using Mep.Grains.Endpoints;
using Mep.Grains.Nodes;
using Mep.Silo.Api;
using Mep.Silo.Auth;
using Mep.Silo.Database;
using Mep.Silo.Health;
using Mep.Silo.Metrics;
using Mep.Silo.Hosting;
using Mep.Silo.Services;
using Mep.Silo.Status;
using Mep.Silo.Storage;
using Orleans.Dashboard;

// Composition only: what runs is decided by the grains and services this wires together.
var early = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
PrivilegeDrop.BecomeServiceAccount(early.GetSection("Mep").Get<SiloSettings>()?.RunAs ?? new SiloSettings().RunAs);

// Content root at the program, not the working directory: after the privilege drop the latter may be unreadable.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
var settings = builder.Configuration.GetSection(MepOptions.Section).Get<SiloSettings>() ?? new SiloSettings();
// ASP.NET Core logs four or five lines per request at Information: most of a busy site's log, and CPU on every
// request. Warnings and errors only by default; Logging:LogLevel:Microsoft.AspNetCore in any source says otherwise.
builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
{
    InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning" },
});

// Checked before anything starts so that a binding that would expose the API in clear is one line, not a stack trace.
// The same for silo-to-silo TLS: a missing or foreign certificate file is one line naming the setting.
var binding = new ApiBindingValidator();
var clusterTls = new ClusterTlsValidator();
foreach (var validator in new Microsoft.Extensions.Options.IValidateOptions<SiloSettings>[] { binding, clusterTls })
{
    if (validator.Validate(null, settings) is { Failed: true } refused)
    {
        Console.Error.WriteLine($"mep-silo: {string.Join("; ", refused.Failures)}");
        return 2;
    }
}

builder.Services.AddOptions<SiloSettings>().Bind(builder.Configuration.GetSection(MepOptions.Section)).ValidateOnStart();
builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<SiloSettings>>(binding);
builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<SiloSettings>>(clusterTls);

builder.Services.AddOptions<MepOptions>().Bind(builder.Configuration.GetSection(MepOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<EndpointCatalog>();
builder.Services.AddMepAuditLog(o =>
{
    builder.Configuration.GetSection(AuditOptions.Section).Bind(o);
    o.Path = string.IsNullOrWhiteSpace(o.Path) ? Path.Combine(settings.DataDirectory, "audit.log") : o.Path;
});
builder.Services.AddMepBrokerServices(builder.Configuration.GetSection("Mep:Broker"));
builder.Services.AddMepLauncherServices();
builder.Services.AddMepTokenAuthentication(builder.Configuration.GetSection(TokenAuthOptions.Section));
builder.WebHost.UseUrls(settings.Api.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
if (settings.Tls is { CertificateFile: { Length: > 0 } certificateFile, KeyFile: { Length: > 0 } keyFile })
{
    var certificates = new ServerCertificateFiles(certificateFile, keyFile);
    builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https => https.ServerCertificateSelector = (_, _) => certificates.Current()));
}

settings.Database.Validate();
var postgres = settings.Database.IsPostgreSql ? settings.Database.CreatePostgreSqlDataSource() : null;
builder.UseOrleans(silo =>
{
    if (postgres is null)
    {
        silo.UseLocalhostClustering(settings.Cluster.SiloPort, settings.Cluster.GatewayPort, serviceId: settings.Cluster.ServiceId, clusterId: settings.Cluster.ClusterId);
        silo.AddSqliteGrainStorage(StorageNames.Mep, Path.Combine(settings.DataDirectory, "mep.db"));
        silo.AddMepSqliteTaskStore(Path.Combine(settings.DataDirectory, "mep.db"));

        // One node: its reminders live as long as its silo; a restart reconciles through the launcher watch.
        silo.UseInMemoryReminderService();
    }
    else
    {
        // Membership, grain state and reminders on PostgreSQL; the schema is checked at start (run `mep db init` first).
        silo.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ServiceId, o.ClusterId) = (settings.Cluster.ServiceId, settings.Cluster.ClusterId));
        silo.ConfigureEndpoints(DatabaseSettings.ParseAddress(settings.Cluster.Address), settings.Cluster.SiloPort, settings.Cluster.GatewayPort,
            listenOnAnyHostAddress: false);
        silo.UseMepPostgreSql(postgres, StorageNames.Mep);
        silo.AddMepPostgreSqlTaskStore(postgres);
    }

    silo.UseMepClusterTls(settings.Cluster.Tls);
    silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(settings.Cluster.Membership.ApplyTo);
    // Orleans sizes its grain-location cache for a million grains by default and allocates for that up front (MBs of
    // the idle silo's memory); a site's grains (endpoints, user endpoints, functions, nodes) are far fewer, and a
    // location missing from the cache is only looked up again.
    silo.Configure<Orleans.Configuration.GrainDirectoryOptions>(o => o.CacheSize = 100_000);
    silo.AddMepNodes(settings.Cluster.NodeName);
    silo.AddMepEventStreams();
    if (settings.Dashboard)
    {
        silo.AddDashboard();
    }
});
builder.Services.AddMepGrainCallers();
builder.Services.AddMepMetrics();
builder.Services.AddHostedService<SystemdNotifier>();
builder.Services.AddMepStatus();
builder.Services.AddMepReadiness(sp => (System.Data.Common.DbDataSource?)postgres ?? sp.GetRequiredService<SqliteStorageRegistration>().DataSource);

var app = builder.Build();

// Counts from the start, so the status page's first rates are whole.
app.Services.GetRequiredService<Mep.Grains.Telemetry.TaskRates>();
app.UseMiddleware<ProblemMiddleware>();
app.MapMepMetrics();
app.UseAuthentication();
app.UseAuthorization();
app.MapMepHealth();
app.MapMepApi();
app.MapMepStatus(settings.Dashboard);
if (settings.Dashboard)
{
    app.MapOrleansDashboard(StatusRoutes.DashboardPath.TrimStart('/'));
}

app.MapFallback(() => Problems.Result(404, "Not found", "no such API path"));
await app.RunAsync();
return 0;
