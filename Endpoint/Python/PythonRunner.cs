using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Mep.Protocol.Messages;

namespace Mep.Endpoint.Python;

/// <summary>
/// Runs Python tasks for one task slot of a worker in the slot's long-lived python3, started on first use and reused
/// for every later task (imports and caches stay warm). A walltime kill or a crash discards the process; the next task
/// starts a fresh one. The function's stdout and stderr go to two files of the slot in the worker's private scratch
/// directory, read back (their tails) into the result. python3 says how much each holds when a call returns, so an
/// empty one (most calls print nothing) is neither read nor replaced: python3 keeps it open for the next call.
/// </summary>
internal sealed class PythonRunner(string label, ProcessIdentity identity, string workingDirectory, string scratchDirectory,
    Func<string?> pathVariable) : IDisposable
{
    private PythonProcess? _python;
    private Task<PythonProcess?>? _warming;
    // Whether the output files are known empty: the last call's response said so, and nothing failed since.
    private bool _outputEmpty;

    private string StdoutPath => Path.Combine(scratchDirectory, $"{label}.stdout");

    private string StderrPath => Path.Combine(scratchDirectory, $"{label}.stderr");

    /// <summary>The python process serving this slot now, if any (tests check it is reused).</summary>
    public int? Pid => _python is { HasExited: false } p ? p.Pid : null;

    /// <summary>Whether a call would go to a python3 already running (no process to start or wait for).</summary>
    public bool IsRunning => _python is { HasExited: false };

    /// <summary>
    /// Runs the call to a result (success, the function's exception, or a failure reason). Cancelling
    /// <paramref name="shutdown"/> kills python and throws <see cref="OperationCanceledException"/>: the caller hands
    /// the task back to the queue.
    /// </summary>
    /// <param name="resultLimitBytes">A return value larger than this (as JSON) is refused by python itself, so it never crosses the pipe.</param>
    public async Task<TaskResultMessage> RunAsync(TaskMessage task, long resultLimitBytes, CancellationToken shutdown)
    {
        var startedAt = DateTimeOffset.UtcNow;
        if (task.Python is not { } call)
        {
            return Failed(task, startedAt, "the task is a Python function but carries no call");
        }

        using var walltime = new CancellationTokenSource();
        if (ShellRunner.WalltimeOf(task) is { } limit)
        {
            walltime.CancelAfter(limit);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(walltime.Token, shutdown);
        // A stale file from the previous task must never be read as this one's output, even if python3 dies before it
        // replaces the file itself. Known empty files are left (python3 replaces one that a straggler wrote to).
        if (!_outputEmpty)
        {
            File.Delete(StdoutPath);
            File.Delete(StderrPath);
        }

        _outputEmpty = false; // until a response says otherwise

        try
        {
            if (Interlocked.Exchange(ref _warming, null) is { } warming)
            {
                try
                {
                    _python = await warming.WaitAsync(stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    KillWhenStarted(warming);
                    throw;
                }
            }

            if (_python is null || _python.HasExited)
            {
                Discard();
                var python = PythonLocator.Find(pathVariable());
                if (python is null)
                {
                    return Failed(task, startedAt, $"{PythonLocator.Name} was not found on the worker's PATH ({pathVariable()})");
                }

                try
                {
                    _python = await StartAsync(python, stop.Token).ConfigureAwait(false);
                }
                catch (PythonStartException e)
                {
                    return Failed(task, startedAt, e.Message);
                }
            }

            var response = await _python.CallAsync(Request(call, resultLimitBytes), stop.Token).ConfigureAwait(false);
            if (response is null)
            {
                await _python.WaitForExitAsync().ConfigureAwait(false);
                var reason = $"python3 exited while running the function{_python.Describe()}";
                Discard();
                return WithOutput(Failed(task, startedAt, reason), task);
            }

            var result = FromResponse(task, startedAt, response, out var sizes);
            if (result is null)
            {
                await KillAsync().ConfigureAwait(false);
                result = Failed(task, startedAt, "python3 sent a response the worker cannot read");
            }

            var output = WithOutput(result, task, sizes);
            _outputEmpty = sizes is (0, 0);
            return output;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            await KillAsync().ConfigureAwait(false);
            shutdown.ThrowIfCancellationRequested();
            var reason = string.Create(CultureInfo.InvariantCulture, $"walltime of {task.WalltimeSeconds:0.###} s exceeded");
            return WithOutput(Failed(task, startedAt, reason), task);
        }
    }

    /// <summary>
    /// Starts this slot's python3 now, in the background, so that the first Python task finds it ready: a cold UEP is
    /// started because a task is waiting, and python's own start is tens of milliseconds of that task's wait. A failure
    /// is only logged; the first task then starts python itself and fails with the reason. Call before the slot runs a
    /// task; <paramref name="shutdown"/> ends a start still under way.
    /// </summary>
    public void Warm(CancellationToken shutdown)
    {
        if (_python is null && _warming is null)
        {
            _warming = WarmAsync(shutdown);
        }
    }

    private async Task<PythonProcess?> WarmAsync(CancellationToken shutdown)
    {
        var python = PythonLocator.Find(pathVariable());
        try
        {
            return python is null ? null : await StartAsync(python, shutdown).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PythonStartException or OperationCanceledException)
        {
            Log.Info($"{label}: python3 not started ahead of a task: {e.Message}");
            return null;
        }
    }

    private async Task<PythonProcess> StartAsync(string python, CancellationToken cancel)
    {
        var started = await PythonProcess.StartAsync(python, workingDirectory, label, cancel).ConfigureAwait(false);
        Log.Info($"{label}: started {python} (Python {started.Version}) pid {started.Pid}");
        return started;
    }

    private ReadOnlyMemory<byte> Request(PythonCall call, long resultLimitBytes)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("source", call.Source);
            json.WriteString("entry", call.Entry);
            json.WritePropertyName("args");
            call.Args.WriteTo(json);
            json.WritePropertyName("kwargs");
            call.Kwargs.WriteTo(json);
            json.WriteString("stdout", StdoutPath);
            json.WriteString("stderr", StderrPath);
            json.WriteNumber("result_limit", resultLimitBytes);
            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenMemory;
    }

    /// <summary>
    /// The result the response describes, and the bytes it says each output file holds; null if it is not a response
    /// of our driver.
    /// </summary>
    private TaskResultMessage? FromResponse(TaskMessage task, DateTimeOffset startedAt, string response, out (long Out, long Err)? sizes)
    {
        sizes = null;
        try
        {
            using var doc = JsonDocument.Parse(response);
            var root = doc.RootElement;
            if (root.TryGetProperty("out", out var outBytes) && root.TryGetProperty("err", out var errBytes))
            {
                sizes = (outBytes.GetInt64(), errBytes.GetInt64());
            }

            if (root.GetProperty("ok").GetBoolean())
            {
                return Result(task, startedAt, TaskState.Success, null) with { ReturnValue = root.GetProperty("value").GetRawText() };
            }

            if (root.TryGetProperty("error", out var error))
            {
                return Failed(task, startedAt, error.GetString() ?? "the call failed");
            }

            var type = root.GetProperty("type").GetString() ?? "Exception";
            var message = root.GetProperty("message").GetString() ?? "";
            var traceback = root.GetProperty("traceback").GetString() ?? "";
            return Result(task, startedAt, TaskState.Failed, message.Length == 0 ? type : $"{type}: {message}")
                with { Exception = new PythonException(type, message, traceback) };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            Log.Warn($"{label}: unreadable response from python: {e.Message}");
            return null;
        }
    }

    /// <param name="sizes">What python3 said the files hold; an empty one is not opened. Null (python3 died, or the
    /// call never returned): both are read.</param>
    private TaskResultMessage WithOutput(TaskResultMessage result, TaskMessage task, (long Out, long Err)? sizes = null)
    {
        var (stdout, cutOut) = sizes is (0, _) ? ("", false) : OutputFile.ReadTail(StdoutPath, task.OutputLimitBytes);
        var (stderr, cutErr) = sizes is (_, 0) ? ("", false) : OutputFile.ReadTail(StderrPath, task.OutputLimitBytes);
        return result with { Stdout = stdout, Stderr = stderr, OutputTruncated = cutOut || cutErr, CompletedAt = DateTimeOffset.UtcNow };
    }

    private TaskResultMessage Failed(TaskMessage task, DateTimeOffset startedAt, string error) =>
        Result(task, startedAt, TaskState.Failed, error);

    private TaskResultMessage Result(TaskMessage task, DateTimeOffset startedAt, TaskState state, string? error) =>
        new(task.TaskId, state, null, "", "", false, error, startedAt, DateTimeOffset.UtcNow, identity.Hostname, identity.Uid, identity.Username);

    private async Task KillAsync()
    {
        if (_python is not null)
        {
            _python.Kill();
            await _python.WaitForExitAsync().ConfigureAwait(false);
        }

        Discard();
    }

    private void Discard()
    {
        _python?.Dispose();
        _python = null;
    }

    /// <summary>Kills the slot's python (the worker is exiting); does not wait for it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _warming, null) is { } warming)
        {
            KillWhenStarted(warming);
        }

        _python?.Kill();
        Discard();
    }

    /// <summary>A python started ahead of a task that will not use it: killed once its start is through.</summary>
    private static void KillWhenStarted(Task<PythonProcess?> warming) =>
        _ = warming.ContinueWith(
            started =>
            {
                if (started.Result is { } python)
                {
                    python.Kill();
                    python.Dispose();
                }
            },
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
}
