using System.CommandLine;
using Mep.Sdk;
using Spectre.Console;

namespace Mep.Cli;

/// <summary>
/// What every command shares: the writers, the environment, the global options (--url, --token, --token-file, --ca-file)
/// and the one place where expected errors become a single "mep: ..." line on stderr and exit code 2.
/// </summary>
internal sealed class CliContext(InvocationConfiguration invocation, CliEnvironment environment)
{
    public const int ExitOk = 0;
    public const int ExitTasksFailed = 1;
    public const int ExitUsage = 2;
    public const int ExitInterrupted = 130; // 128 + SIGINT, as shells report it
    public const string DefaultUrl = "https://127.0.0.1:8480";

    private Uri? baseAddress;

    public TextWriter Out => invocation.Output;

    public TextWriter Error => invocation.Error;

    public CliEnvironment Environment => environment;

    public Option<string> Url { get; } = new("--url")
    {
        Description = $"API base address (env MEP_URL, default {DefaultUrl})",
        Recursive = true,
    };

    public Option<string> Token { get; } = new("--token")
    {
        Description = "Bearer token (env MEP_TOKEN)",
        Recursive = true,
    };

    public Option<string> TokenFile { get; } = new("--token-file")
    {
        Description = "File holding the bearer token (env MEP_TOKEN_FILE)",
        Recursive = true,
    };

    public Option<string> CaFile { get; } = new("--ca-file")
    {
        Description = $"PEM file of the CA certificates that issued the site's server certificate, trusted instead of the system's (env {MepTls.CaFileVariable})",
        Recursive = true,
    };

    /// <summary>Registers an action whose expected failures print one line naming the cause and exit 2.</summary>
    public void SetAction(Command command, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                return await action(parse, cancellationToken);
            }
            catch (UsageException e)
            {
                return Fail(e.Message);
            }
            catch (MepApiException e)
            {
                return Fail($"{e.Status} {e.Message}");
            }
            catch (HttpRequestException e)
            {
                return Fail($"cannot reach {baseAddress}: {e.Message}");
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Fail($"{baseAddress} did not answer in time");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Error.WriteLine("mep: interrupted");
                return ExitInterrupted;
            }
        });
    }

    public int Fail(string message)
    {
        Error.WriteLine("mep: " + message.ReplaceLineEndings(" "));
        return ExitUsage;
    }

    /// <summary>A client for the API named by --url with the token from --token / --token-file / the environment.</summary>
    public MepClient CreateClient(ParseResult parse)
    {
        baseAddress = ResolveUrl(parse);
        return new MepClient(baseAddress, ResolveToken(parse), environment.HttpHandler ?? CreateHandler(parse));
    }

    /// <summary>Trust in the site's CA (--ca-file, MEP_CA_FILE) or, without one, in the system's store; never no verification.</summary>
    private HttpMessageHandler CreateHandler(ParseResult parse)
    {
        var (path, source) = parse.GetValue(CaFile) is { } flag ? (flag, "--ca-file")
            : environment.Variable(MepTls.CaFileVariable) is { Length: > 0 } env ? (env, MepTls.CaFileVariable)
            : (null, "");
        try
        {
            return MepTls.CreateHandler(path);
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException(e.Message.Replace(MepTls.CaFileVariable, source, StringComparison.Ordinal));
        }
    }

    /// <summary>Spectre output on our writer: colours and live progress only when it is a terminal.</summary>
    public IAnsiConsole CreateConsole()
    {
        var terminal = environment.OutputIsTerminal;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal)
        {
            console.Profile.Width = 240; // a pipe has no width: do not wrap rows a script will read
        }

        return console;
    }

    private Uri ResolveUrl(ParseResult parse)
    {
        var (text, source) = parse.GetValue(Url) is { } flag ? (flag, "--url")
            : environment.Variable("MEP_URL") is { Length: > 0 } env ? (env, "MEP_URL")
            : (DefaultUrl, "--url");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"{source} '{text}' is not an http:// or https:// address");
        }

        return uri;
    }

    private string ResolveToken(ParseResult parse)
    {
        var token = parse.GetValue(Token);
        var tokenFile = parse.GetValue(TokenFile);
        if (token is not null && tokenFile is not null)
        {
            throw new UsageException("give --token or --token-file, not both");
        }

        if (token is not null)
        {
            return Checked(token, "--token");
        }

        if (tokenFile is not null)
        {
            return ReadTokenFile(tokenFile, "--token-file");
        }

        if (environment.Variable("MEP_TOKEN") is { Length: > 0 } envToken)
        {
            return Checked(envToken, "MEP_TOKEN");
        }

        if (environment.Variable("MEP_TOKEN_FILE") is { Length: > 0 } envFile)
        {
            return ReadTokenFile(envFile, "MEP_TOKEN_FILE");
        }

        throw new UsageException("no token: give --token or --token-file, or set MEP_TOKEN or MEP_TOKEN_FILE (make one with 'mep token issue')");
    }

    private static string ReadTokenFile(string path, string source)
    {
        try
        {
            return Checked(File.ReadAllText(path), $"{source} '{path}'");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{source} '{path}' cannot be read: {e.Message}");
        }
    }

    private static string Checked(string token, string source)
    {
        var trimmed = token.Trim();
        if (trimmed.Length == 0 || trimmed.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new UsageException($"{source} is not a bearer token (empty, or holds spaces)");
        }

        return trimmed;
    }
}
