namespace Mep.Endpoint.Worker;

/// <summary>Replaces a file so that a reader (or a crash) sees the old contents or the new, never half of one.</summary>
internal static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> contents)
    {
        // Unique per writer: two workers never share a temporary file, even on a shared file system.
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew,
                       Access = FileAccess.Write,
                       UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
            {
                stream.Write(contents);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
