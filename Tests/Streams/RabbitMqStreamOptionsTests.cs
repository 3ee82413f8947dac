using Mep.Streams.RabbitMQ;
using Orleans.Runtime;
using Xunit;

namespace Mep.Tests.Streams;

public sealed class RabbitMqStreamOptionsTests
{
    [Fact]
    public void Defaults_are_valid()
    {
        new RabbitMqStreamOptionsValidator(new RabbitMqStreamOptions(), "p").ValidateConfiguration();
    }

    [Theory]
    [InlineData(nameof(RabbitMqStreamOptions.PartitionCount))]
    [InlineData(nameof(RabbitMqStreamOptions.Exchange))]
    [InlineData(nameof(RabbitMqStreamOptions.Prefetch))]
    [InlineData(nameof(RabbitMqStreamOptions.Port))]
    [InlineData(nameof(RabbitMqStreamOptions.HostName))]
    [InlineData(nameof(RabbitMqStreamOptions.PasswordFile))]
    public void A_bad_value_stops_the_start_naming_the_provider_and_the_option(string field)
    {
        var options = new RabbitMqStreamOptions();
        switch (field)
        {
            case nameof(RabbitMqStreamOptions.PartitionCount): options.PartitionCount = 0; break;
            case nameof(RabbitMqStreamOptions.Exchange): options.Exchange = "has space"; break;
            case nameof(RabbitMqStreamOptions.Prefetch): options.Prefetch = 0; break;
            case nameof(RabbitMqStreamOptions.Port): options.Port = 70000; break;
            case nameof(RabbitMqStreamOptions.HostName): options.HostName = " "; break;
            case nameof(RabbitMqStreamOptions.PasswordFile): options.PasswordFile = "/nonexistent/password"; break;
        }
        var e = Assert.Throws<OrleansConfigurationException>(() => new RabbitMqStreamOptionsValidator(options, "events").ValidateConfiguration());
        Assert.Contains("'events'", e.Message);
        Assert.Contains($"{nameof(RabbitMqStreamOptions)}.{field}", e.Message);
    }
}
