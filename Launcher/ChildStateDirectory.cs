using System.Globalization;
using System.Text.Json;
using Mep.Protocol;

namespace Mep.Launcher;

/// <summary>One running UEP as the launcher records it.</summary>
/// <param name="StartTime">Field 22 of /proc/&lt;pid&gt;/stat (clock ticks after boot): with the pid it names one process
/// for the whole uptime, so a reused pid is never taken for the UEP.</param>
/// <param name="Cgroups">The UEP's cgroup directories, removed when it exits (null: none; records of older launchers).</param>
/// <param name="ResourceControl">How the UEP is contained, as its start's answer said.</param>
public sealed record ChildRecord(
    string UepId, string Username, int Uid, int Pid, ulong StartTime, DateTimeOffset StartedAt, IReadOnlyList<string>? Cgroups = null,
    string? ResourceControl = null);

/// <summary>
/// The launcher's record of its running UEPs (Launcher:StateDirectory), one file per UEP, so that a restarted
/// launcher finds them again. Only the launcher's own user may read or write it: the directory must be its own, 0700.
/// </summary>
internal sealed class ChildStateDirectory(string path)
{
    private const string Suffix = ".json";

    public string Path { get; } = path;

    /// <summary>Creates the directory (0700) or checks that the existing one is the launcher's alone.</summary>
    public void Prepare()
    {
        if (!Directory.Exists(Path))
        {
            Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var status = Native.Stat(Path, followLinks: false)
            ?? throw new InvalidOperationException($"state directory {Path} vanished");
        var euid = Native.GetEuid();
        if (!status.IsDirectory || status.Uid != euid || (status.Mode & 0x3F) != 0)
        {
            throw new InvalidOperationException(
                $"state directory {Path} must be a directory owned by uid {euid} with mode 0700 (no group or other access)");
        }
    }

    public void Save(ChildRecord record)
    {
        // Write aside, then rename: a launcher killed in between leaves the old record or none, never half of one.
        var file = FileOf(record.UepId);
        var temporary = file + ".tmp";
        File.WriteAllBytes(temporary, ProtocolJson.SerializeToUtf8(record, LauncherJson.Files.ChildRecord));
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, file, overwrite: true);
    }

    public void Remove(string uepId) => File.Delete(FileOf(uepId));

    /// <summary>Every record; one that cannot be read or does not match its file name is deleted and reported.</summary>
    public List<ChildRecord> Load(Action<string> reportBadRecord)
    {
        var records = new List<ChildRecord>();
        foreach (var file in Directory.EnumerateFiles(Path))
        {
            var name = System.IO.Path.GetFileName(file);
            try
            {
                var record = name.EndsWith(Suffix, StringComparison.Ordinal)
                    ? ProtocolJson.Deserialize(File.ReadAllBytes(file), LauncherJson.Files.ChildRecord)
                    : null;
                if (record is not null && name == record.UepId + Suffix && RequestValidator.IsCanonicalUuid(record.UepId)
                    && RequestValidator.IsValidUsername(record.Username) && record.Pid > 1)
                {
                    records.Add(record);
                    continue;
                }
            }
            catch (JsonException)
            {
                // Reported below with the others.
            }

            reportBadRecord(name);
            File.Delete(file);
        }

        return records;
    }

    /// <summary>Field 22 of /proc/&lt;pid&gt;/stat, or null when there is no such process.</summary>
    public static ulong? StartTime(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }

        // Field 2 is the name in parentheses and may hold anything: count from the last ')' (field 3 follows it).
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            ? ticks
            : null;
    }

    private string FileOf(string uepId) => System.IO.Path.Combine(Path, uepId + Suffix);
}
