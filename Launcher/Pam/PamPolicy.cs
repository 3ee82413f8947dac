using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mep.Launcher.Pam;

/// <summary>
/// Which PAM service a start goes through (the launcher's options decide, not the request) and the account check
/// (pam_acct_mgmt) the launcher runs itself before it spawns anything, so that a refused user gets a clear answer at
/// once. Sessions are opened later, in the pre-exec step (<see cref="PamSessionStep"/>).
/// </summary>
public sealed partial class PamPolicy(LauncherOptions options, LauncherIdentity identity, ILogger<PamPolicy> logger)
{
    /// <summary>Where the service files must be. libpam would also look in /usr/lib/pam.d, or fall back to "other".</summary>
    public const string ServiceDirectory = "/etc/pam.d";

    // PAM modules are not all thread safe (they use static buffers, getpwnam, syslog): one transaction at a time.
    private static readonly Lock Transactions = new();

    public PamPolicy(IOptions<LauncherOptions> options, LauncherIdentity identity, ILogger<PamPolicy> logger)
        : this(options.Value, identity, logger)
    {
    }

    // A file name in /etc/pam.d: no path separators, no leading dot or dash.
    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex ServiceName();

    public static bool IsValidServiceName(string? name) => name is not null && ServiceName().IsMatch(name);

    /// <summary>Why /etc/pam.d/<paramref name="service"/> may not be used, or null when it may.</summary>
    /// <remarks>A missing file would make libpam use "other" silently; a file others can write decides who runs.</remarks>
    public static string? ServiceFileProblem(string service)
    {
        if (!IsValidServiceName(service))
        {
            return $"PAM service name {RequestValidator.Quote(service)} is not valid";
        }

        if (Native.Stat(ServiceDirectory, followLinks: true) is not { IsDirectory: true } directory
            || directory.Uid != 0 || directory.WritableByGroupOrOthers)
        {
            return $"{ServiceDirectory} must be a directory owned by root and not writable by group or others";
        }

        var path = Path.Combine(ServiceDirectory, service);
        return Native.Stat(path, followLinks: true) switch
        {
            null => $"PAM service file {path} does not exist",
            { IsRegularFile: false } => $"PAM service file {path} is not a regular file",
            { Uid: not 0 } => $"PAM service file {path} is not owned by root",
            { WritableByGroupOrOthers: true } => $"PAM service file {path} is writable by group or others",
            _ => null,
        };
    }

    /// <summary>Checks the options at start-up (called by <see cref="LauncherOptionsValidator"/>).</summary>
    public static void Validate(PamOptions pam, bool isRoot, List<string> failures)
    {
        foreach (var service in pam.Services.Where(s => !IsValidServiceName(s)))
        {
            failures.Add($"Launcher:Pam:Services: {RequestValidator.Quote(service)} is not a valid PAM service name");
        }

        if (pam.Required && !isRoot)
        {
            failures.Add("Launcher:Pam:Required needs a launcher running as root");
        }
        else if (pam.Required && IsValidServiceName(pam.AllowedServices[0]) && ServiceFileProblem(pam.AllowedServices[0]) is { } problem)
        {
            failures.Add($"Launcher:Pam:Required: {problem}");
        }
    }

    /// <summary>
    /// The PAM service for a start that asked for <paramref name="requested"/> (null: none), or null when the start
    /// goes without PAM.
    /// </summary>
    public string? Resolve(string? requested)
    {
        var pam = options.Pam;
        var service = requested ?? (pam.Required ? pam.AllowedServices[0] : null);
        if (service is null)
        {
            return null;
        }

        if (!IsValidServiceName(service))
        {
            throw new RequestRefusedException($"PAM service name {RequestValidator.Quote(service)} is not valid");
        }

        if (!pam.AllowedServices.Contains(service, StringComparer.Ordinal))
        {
            throw new RequestRefusedException(
                $"PAM service '{service}' is not allowed by the launcher (Launcher:Pam:Services: {string.Join(", ", pam.AllowedServices)})");
        }

        if (!identity.IsRoot)
        {
            throw new RequestRefusedException("PAM needs a launcher running as root; this is a personal launcher");
        }

        return ServiceFileProblem(service) is { } problem ? throw new RequestRefusedException(problem) : service;
    }

    /// <summary>Resolves the start's PAM service and, if there is one, runs the account check for its user.</summary>
    /// <exception cref="RequestRefusedException">The service is refused, or PAM refused the account.</exception>
    public StartCommand Authorize(StartCommand command, string? requested)
    {
        if (Resolve(requested) is not { } service)
        {
            return command;
        }

        CheckAccount(command.User.Name, service);
        return command with { PamService = service };
    }

    private void CheckAccount(string user, string service)
    {
        lock (Transactions)
        {
            try
            {
                using var transaction = PamTransaction.Start(service, user, (isError, text) => logger.Log(
                    isError ? LogLevel.Warning : LogLevel.Information,
                    "PAM (service {Service}) says for user {User}: {Text}", service, user, ChildSupervisor.OneLine(text)));
                transaction.CheckAccount();
            }
            catch (PamException e)
            {
                throw new RequestRefusedException(e.Message);
            }
            catch (DllNotFoundException)
            {
                throw new RequestRefusedException($"PAM (service {service}) is not available: libpam.so.0 cannot be loaded");
            }
        }

        logger.LogInformation("PAM account check (service {Service}) passed for user {User}", service, user);
    }
}
