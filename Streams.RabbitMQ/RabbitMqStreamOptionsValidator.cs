using Orleans;
using Orleans.Runtime;

namespace Mep.Streams.RabbitMQ;

/// <summary>Checked when the silo or client starts, so a bad setting fails the start with its name, not later.</summary>
public sealed class RabbitMqStreamOptionsValidator(RabbitMqStreamOptions options, string name) : IConfigurationValidator
{
    public const int MaxPartitions = 4096;

    public void ValidateConfiguration()
    {
        Require(!string.IsNullOrWhiteSpace(options.HostName), nameof(options.HostName), "must be set");
        Require(options.Port is -1 or (> 0 and <= 65535), nameof(options.Port), "must be a TCP port (1-65535) or -1 for the default");
        Require(!string.IsNullOrEmpty(options.VirtualHost), nameof(options.VirtualHost), "must be set (\"/\" is the default vhost)");
        Require(!string.IsNullOrEmpty(options.UserName), nameof(options.UserName), "must be set");
        Require(options.PasswordFile is null || File.Exists(options.PasswordFile), nameof(options.PasswordFile),
            $"{options.PasswordFile} does not exist");
        Require(IsName(options.Exchange), nameof(options.Exchange),
            "must be 1-200 characters of letters, digits, '.', '-', '_' or ':'");
        Require(options.PartitionCount is > 0 and <= MaxPartitions, nameof(options.PartitionCount), $"must be 1-{MaxPartitions}");
        Require(options.Prefetch > 0, nameof(options.Prefetch), "must be at least 1");
        Require(IsName(options.DeadLetterQueueName), nameof(options.DeadLetterQueue),
            "must be 1-200 characters of letters, digits, '.', '-', '_' or ':'");
        Require(options.MaxReconnectDelay > TimeSpan.Zero, nameof(options.MaxReconnectDelay), "must be positive");
        Require(Enum.IsDefined(options.QueueType), nameof(options.QueueType), "must be Quorum or Classic");
    }

    // Names become queue names and routing-key prefixes: keep them to characters with no meaning in either.
    private static bool IsName(string? s) =>
        !string.IsNullOrEmpty(s) && s.Length <= 200 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or ':');

    private void Require(bool ok, string field, string problem)
    {
        if (!ok)
        {
            throw new OrleansConfigurationException($"RabbitMQ stream provider '{name}': {nameof(RabbitMqStreamOptions)}.{field} {problem}");
        }
    }
}
