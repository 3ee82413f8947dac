namespace Mep.Grains.Launching;

/// <summary>
/// The launcher refused a request (<see cref="Unavailable"/> false: the message is the launcher's own error line),
/// or could not be reached or broke off (<see cref="Unavailable"/> true).
/// </summary>
public sealed class LauncherException(string message, bool unavailable = false, Exception? inner = null)
    : Exception(message, inner)
{
    public bool Unavailable { get; } = unavailable;
}
