namespace Mep.Cli;

/// <summary>The command line (or a file or variable it names) is wrong. The message names the field and the cause.</summary>
internal sealed class UsageException(string message) : Exception(message);
