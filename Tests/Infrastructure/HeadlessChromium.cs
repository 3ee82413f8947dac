using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// Debian's chromium, headless, driven over the DevTools protocol: one page, navigated, evaluated in and
/// photographed as a browser shows it. Commands go over the page's WebSocket as JSON with an id; the answer with the
/// same id completes the command (events are ignored).
/// </summary>
internal sealed partial class HeadlessChromium : IAsyncDisposable
{
    public const string Program = "/usr/bin/chromium";

    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _receiving = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>Where tests put what a person may want to look at after a run (screenshots): MEP_TEST_ARTIFACTS, or
    /// /tmp/mep-test-artifacts.</summary>
    public static string ArtifactsDirectory()
    {
        var dir = Environment.GetEnvironmentVariable("MEP_TEST_ARTIFACTS") is { Length: > 0 } set ? set : Path.Combine(Path.GetTempPath(), "mep-test-artifacts");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <param name="serverCertificateFile">
    /// The site's server certificate (PEM): chromium accepts exactly that key (pinned by the SHA-256 of its public
    /// key) without the private CA in its trust store; any other certificate is still refused.
    /// </param>
    public static async Task<HeadlessChromium> StartAsync(string serverCertificateFile)
    {
        var profile = Directory.CreateTempSubdirectory("mep-chromium-").FullName;
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(
            await File.ReadAllTextAsync(serverCertificateFile));
        var pin = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
        var start = new ProcessStartInfo(Program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            // As root, chromium refuses to run without --no-sandbox; the pages it loads here are the test's own.
            ArgumentList =
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--window-size=1280,900",
                $"--ignore-certificate-errors-spki-list={pin}",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", $"--user-data-dir={profile}", "about:blank",
            },
        };
        var process = Process.Start(start)!;
        var browser = new HeadlessChromium(process, profile);
        try
        {
            // The port chosen is announced on stderr: "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
            var announced = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var stderr = new StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    announced.TrySetException(new InvalidOperationException($"chromium exited before it listened:\n{stderr}"));
                    return;
                }

                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }

                if (Listening().Match(e.Data) is { Success: true } m)
                {
                    announced.TrySetResult(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
                }
            };
            process.OutputDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            var port = await announced.Task.WaitAsync(TimeSpan.FromSeconds(60));

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var page = await Poll.Until(
                async () => JsonNode.Parse(await http.GetStringAsync("json/list"))!.AsArray()
                    .Select(t => t!.AsObject()).FirstOrDefault(t => (string?)t["type"] == "page"),
                TimeSpan.FromSeconds(30),
                () => "chromium listed no page target");
            await browser._socket.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), CancellationToken.None);
            browser._receiving = browser.ReceiveAsync();
            await browser.SendAsync("Page.enable");
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Loads <paramref name="url"/> (returns once the navigation is committed; poll the page for content).</summary>
    public Task NavigateAsync(string url) => SendAsync("Page.navigate", new JsonObject { ["url"] = url });

    /// <summary>The value of a JavaScript expression in the page (promises awaited); null for undefined or null.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var answer = await SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression,
            ["returnByValue"] = true,
            ["awaitPromise"] = true,
        });
        if (answer["exceptionDetails"] is { } thrown)
        {
            throw new InvalidOperationException($"the page threw evaluating {expression}: {thrown.ToJsonString()}");
        }

        return answer["result"]?["value"]?.DeepClone();
    }

    /// <summary>A PNG of the page as it is now.</summary>
    public async Task<byte[]> ScreenshotAsync()
    {
        var answer = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" });
        return Convert.FromBase64String((string)answer["data"]!);
    }

    private async Task<JsonObject> SendAsync(string method, JsonObject? parameters = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        var reply = await answer.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return reply["error"] is { } error
            ? throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}")
            : reply["result"]?.AsObject() ?? new JsonObject();
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var received = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, received.Count);
                if (!received.EndOfMessage)
                {
                    continue;
                }

                var json = JsonNode.Parse(message.ToArray())!.AsObject();
                message.SetLength(0);
                if (json["id"] is { } id && _pending.TryRemove((int)id, out var waiting))
                {
                    waiting.TrySetResult(json);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // Closing down, or chromium went away: whatever still waits fails below.
        }

        foreach (var waiting in _pending.Values)
        {
            waiting.TrySetException(new InvalidOperationException("the DevTools connection closed"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Abort();
        await _receiving;
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _stop.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // A crash-reporter child may still be writing into it: a temporary directory, left for the system to clean.
        }
    }

    [GeneratedRegex(@"DevTools listening on ws://[^:]+:(\d+)/")]
    private static partial Regex Listening();
}
