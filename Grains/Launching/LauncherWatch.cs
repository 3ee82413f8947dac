using System.Runtime.CompilerServices;
using Mep.Protocol.Launcher;

namespace Mep.Grains.Launching;

/// <summary>A watch connection the launcher has acknowledged (see <see cref="LauncherClient.OpenWatchAsync"/>).</summary>
public sealed class LauncherWatch : IAsyncDisposable
{
    private readonly LauncherClient.Connection connection;

    internal LauncherWatch(LauncherClient.Connection connection) => this.connection = connection;

    /// <summary>Exit events until cancelled; throws <see cref="LauncherException"/> if the launcher goes away.</summary>
    public async IAsyncEnumerable<LauncherEvent> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            yield return await connection.ReceiveAsync<LauncherEvent>(cancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        connection.Dispose();
        return ValueTask.CompletedTask;
    }
}
