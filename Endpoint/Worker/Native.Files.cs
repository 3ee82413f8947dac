using System.Runtime.InteropServices;

namespace Mep.Endpoint;

/// <summary>File checks .NET does not expose: the owner of an open file, and execute permission as the kernel decides it.</summary>
internal static partial class Native
{
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int XOk = 1;

    // struct statx has one layout on every Linux architecture (unlike struct stat): uid at 20, mode at 28; 256 bytes.
    private const int StatxSize = 256;
    private const int StatxUidOffset = 20;
    private const int StatxModeOffset = 28;

    public const int FileTypeMask = 0xF000;
    public const int RegularFile = 0x8000;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirFd, string path, int flags, uint mask, Span<byte> buffer);

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);

    /// <summary>Owner uid and st_mode (type and permission bits) of an open file: what was opened is what is checked.</summary>
    public static (uint Uid, int Mode) OwnerAndMode(Microsoft.Win32.SafeHandles.SafeFileHandle file)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (Statx((int)file.DangerousGetHandle(), "", AtEmptyPath, StatxBasicStats, buffer) != 0)
            {
                throw new IOException($"statx failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }

        var uid = BitConverter.ToUInt32(buffer[StatxUidOffset..]);
        var mode = BitConverter.ToUInt16(buffer[StatxModeOffset..]);
        return (uid, mode);
    }

    /// <summary>access(path, X_OK) for our real uid.</summary>
    public static bool IsExecutable(string path) => Access(path, XOk) == 0;
}
