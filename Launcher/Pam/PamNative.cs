using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Mep.Launcher.Pam;

/// <summary>
/// The few Linux-PAM calls the launcher makes (libpam.so.0, the application side of &lt;security/pam_appl.h&gt;), and
/// a conversation function that answers no prompt: MEP never asks anybody for a password.
/// </summary>
internal static unsafe partial class PamNative
{
    private const string Library = "libpam.so.0";

    public const int Success = 0;
    public const int ConversationError = 19; // PAM_CONV_ERR

    public const int ItemTty = 3;   // PAM_TTY
    public const int ItemRemoteHost = 4;   // PAM_RHOST
    public const int ItemRemoteUser = 8;   // PAM_RUSER

    public const int EstablishCredentials = 0x2; // PAM_ESTABLISH_CRED
    public const int DeleteCredentials = 0x4;    // PAM_DELETE_CRED

    private const int ErrorMessage = 3;  // PAM_ERROR_MSG
    private const int TextInfo = 4;      // PAM_TEXT_INFO

    /// <summary>struct pam_conv: the callback and the pointer handed back to it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Conversation
    {
        public delegate* unmanaged[Cdecl]<int, Message**, Response**, nint, int> Function;
        public nint AppData;
    }

    /// <summary>struct pam_message.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Message
    {
        public int Style;
        public byte* Text;
    }

    /// <summary>struct pam_response; the module frees the array (and each resp) with free().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Response
    {
        public byte* Text;
        public int ReturnCode;
    }

    [LibraryImport(Library, EntryPoint = "pam_start", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Start(string service, string user, Conversation* conversation, nint* handle);

    [LibraryImport(Library, EntryPoint = "pam_end")]
    public static partial int End(nint handle, int status);

    [LibraryImport(Library, EntryPoint = "pam_set_item")]
    public static partial int SetItem(nint handle, int item, byte* value);

    [LibraryImport(Library, EntryPoint = "pam_acct_mgmt")]
    public static partial int AccountManagement(nint handle, int flags);

    [LibraryImport(Library, EntryPoint = "pam_setcred")]
    public static partial int SetCredentials(nint handle, int flags);

    [LibraryImport(Library, EntryPoint = "pam_open_session")]
    public static partial int OpenSession(nint handle, int flags);

    [LibraryImport(Library, EntryPoint = "pam_close_session")]
    public static partial int CloseSession(nint handle, int flags);

    [LibraryImport(Library, EntryPoint = "pam_strerror")]
    private static partial byte* StrError(nint handle, int status);

    [LibraryImport(Library, EntryPoint = "pam_getenvlist")]
    private static partial byte** GetEnvironmentList(nint handle);

    /// <summary>pam_strerror's text for <paramref name="status"/>.</summary>
    public static string Describe(nint handle, int status) =>
        Marshal.PtrToStringUTF8((nint)StrError(handle, status)) is { Length: > 0 } text ? text : $"PAM error {status}";

    /// <summary>The PAM environment (pam_env and friends) as NAME=value entries; frees libpam's copy.</summary>
    public static List<string> EnvironmentList(nint handle)
    {
        var list = GetEnvironmentList(handle);
        var entries = new List<string>();
        if (list == null)
        {
            return entries;
        }

        for (var entry = list; *entry != null; entry++)
        {
            entries.Add(Marshal.PtrToStringUTF8((nint)(*entry)) ?? "");
            NativeMemory.Free(*entry); // malloc'd by libpam: free() is what NativeMemory.Free calls
        }

        NativeMemory.Free(list);
        return entries;
    }

    /// <summary>
    /// The conversation function. Any prompt is refused with PAM_CONV_ERR (a module that wants a password or an
    /// answer cannot have one); informational and error messages go to the sink the app data names
    /// (<see cref="IPamMessageSink"/> through a GCHandle). Called by libpam on the thread that called into it.
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    public static int Converse(int count, Message** messages, Response** responses, nint appData)
    {
        try
        {
            if (responses == null || messages == null || count is <= 0 or > 1024)
            {
                return ConversationError;
            }

            *responses = null;
            var received = new List<(int Style, string Text)>(count);
            for (var i = 0; i < count; i++)
            {
                // Linux-PAM passes an array of pointers to messages.
                var message = messages[i];
                if (message == null)
                {
                    return ConversationError;
                }

                received.Add((message->Style, Marshal.PtrToStringUTF8((nint)message->Text) ?? ""));
            }

            if (Answer(received, GCHandle.FromIntPtr(appData).Target as IPamMessageSink) != Success)
            {
                return ConversationError;
            }

            // Every answer empty; calloc'd so that the module can free() it.
            *responses = (Response*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(Response));
            return Success;
        }
        catch (Exception)
        {
            return ConversationError; // nothing may unwind into libpam
        }
    }

    /// <summary>
    /// What the conversation answers to <paramref name="messages"/>: PAM_CONV_ERR if any is a prompt (echo on or off,
    /// radio, binary: nobody is there to answer), else each goes to <paramref name="sink"/> and the answer is success.
    /// </summary>
    internal static int Answer(IReadOnlyList<(int Style, string Text)> messages, IPamMessageSink? sink)
    {
        if (messages.Any(m => m.Style is not (ErrorMessage or TextInfo)))
        {
            return ConversationError;
        }

        foreach (var (style, text) in messages)
        {
            sink?.Message(style == ErrorMessage, text);
        }

        return Success;
    }
}

/// <summary>Where the conversation function puts what the PAM modules tell the user.</summary>
internal interface IPamMessageSink
{
    void Message(bool isError, string text);
}
