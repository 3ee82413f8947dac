using Mep.Launcher;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

// mep-launcher [--config /etc/mep/launcher.json] [--Launcher:SocketPath=/run/mep/launcher.sock ...]
// Configuration: the JSON file, then MEP_Launcher__* environment variables, then the command line (last wins).
// No defaults are read from the working directory: root must not pick up an appsettings.json someone left there.
if (!OperatingSystem.IsLinux())
{
    await Console.Error.WriteLineAsync("mep-launcher: runs on Linux only");
    return 1;
}

// The pre-exec step of every UEP start: no configuration, no host, just drop to the user and exec (ExecAs.cs).
if (args.Length > 0 && args[0] == ExecAs.Mode)
{
    return ExecAs.Run(args);
}

try
{
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, DisableDefaults = true });
    if (ConfigFileArgument(args) is { } configFile)
    {
        CheckConfigFile(configFile);
        builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
    }

    builder.Configuration.AddEnvironmentVariables("MEP_");
    builder.Configuration.AddCommandLine(args);

    builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
    builder.Logging.AddSimpleConsole(console =>
    {
        console.SingleLine = true;
        console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        console.UseUtcTimestamp = true;
    });

    builder.Services.AddOptions<LauncherOptions>().Bind(builder.Configuration.GetSection(LauncherOptions.Section)).ValidateOnStart();
    builder.Services.AddSingleton<IValidateOptions<LauncherOptions>, LauncherOptionsValidator>();
    builder.Services.AddSingleton(TimeProvider.System);
    builder.Services.AddSingleton<LauncherIdentity>();
    builder.Services.AddSingleton<RequestValidator>();
    builder.Services.AddSingleton<Mep.Launcher.Pam.PamPolicy>();
    builder.Services.AddSingleton<Mep.Launcher.Cgroups.CgroupManager>();
    builder.Services.AddSingleton<ChildSupervisor>();

    // Registered first so it stops last: the socket closes before the children are told to stop.
    builder.Services.AddHostedService(services => services.GetRequiredService<ChildSupervisor>());
    builder.Services.AddHostedService<SocketServer>();
    builder.Services.AddHostedService<AccountSweep>();

    await builder.Build().RunAsync();
    return 0;
}
catch (OptionsValidationException e)
{
    foreach (var failure in e.Failures)
    {
        await Console.Error.WriteLineAsync($"mep-launcher: {failure}");
    }

    return 2;
}
catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException
    or System.Net.Sockets.SocketException)
{
    await Console.Error.WriteLineAsync($"mep-launcher: {e.Message}");
    return 1;
}

static string? ConfigFileArgument(string[] args)
{
    for (var i = 0; i < args.Length; i++)
    {
        if (args[i] == "--config" && i + 1 < args.Length)
        {
            return args[i + 1];
        }

        if (args[i].StartsWith("--config=", StringComparison.Ordinal))
        {
            return args[i]["--config=".Length..];
        }
    }

    return null;
}

// The config decides what runs as whom: only its owner (root, or the personal launcher's user) may write it.
static void CheckConfigFile(string path)
{
    var status = Native.Stat(Path.GetFullPath(path), followLinks: true)
        ?? throw new InvalidOperationException($"config file {path} does not exist");
    var euid = Native.GetEuid();
    if (status.Uid != euid && status.Uid != 0)
    {
        throw new InvalidOperationException($"config file {path} is owned by uid {status.Uid}, not by uid {euid} or root");
    }

    if (status.WritableByGroupOrOthers)
    {
        throw new InvalidOperationException($"config file {path} is writable by group or others");
    }
}
