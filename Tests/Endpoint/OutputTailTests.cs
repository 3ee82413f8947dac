using System.Text;
using Mep.Endpoint;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class OutputTailTests
{
    [Fact]
    public void Keeps_the_last_bytes_across_many_appends()
    {
        var tail = new OutputTail(10);
        for (var i = 0; i < 100; i++)
        {
            tail.Append(Encoding.ASCII.GetBytes(i.ToString("D3", System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.Equal("6097098099", tail.ToString());
        Assert.True(tail.Truncated);
        Assert.Equal(300, tail.TotalBytes);
    }

    [Fact]
    public void Drops_a_character_cut_in_half_at_the_start()
    {
        var tail = new OutputTail(4);
        tail.Append(Encoding.UTF8.GetBytes("xé€")); // é = 2 bytes, € = 3 bytes: the last 4 bytes start mid-é

        Assert.Equal("€", tail.ToString());
    }

    [Fact]
    public void Zero_limit_keeps_nothing_but_reports_truncation()
    {
        var tail = new OutputTail(0);
        tail.Append("abc"u8);

        Assert.Equal("", tail.ToString());
        Assert.True(tail.Truncated);
    }
}
