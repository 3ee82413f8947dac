using System.Text;

namespace Mep.Protocol.Shell;

/// <summary>POSIX shell quoting: the result is always one word to /bin/sh, whatever the input holds.</summary>
public static class ShellQuote
{
    public static string Quote(string value)
    {
        if (value.Length > 0 && value.All(IsSafe))
        {
            return value;
        }

        // Inside single quotes nothing is special except the closing quote, which we end, escape and reopen.
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('\'');
        foreach (var c in value)
        {
            if (c == '\'')
            {
                sb.Append("'\\''");
            }
            else
            {
                sb.Append(c);
            }
        }

        sb.Append('\'');
        return sb.ToString();
    }

    private static bool IsSafe(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.' or '/' or ',' or ':' or '=' or '@' or '+' or '%';
}
