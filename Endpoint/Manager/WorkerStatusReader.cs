using System.Text.Json;
using Mep.Endpoint.Worker;

namespace Mep.Endpoint.Manager;

/// <summary>Reads the workers' status files; a file being replaced, or a worker that died mid-write, is skipped.</summary>
internal static class WorkerStatusReader
{
    public static IReadOnlyList<WorkerStatus> Read(UepDirectory dir)
    {
        var result = new List<WorkerStatus>();
        IEnumerable<string> files;
        try
        {
            files = Directory.EnumerateFiles(dir.WorkersPath, "*.json").ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return result;
        }

        foreach (var file in files)
        {
            try
            {
                result.Add(WorkerStatusFile.Read(file));
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                // Replaced or removed between listing and reading; the next round reads it.
            }
        }

        return result;
    }
}
