using System.Runtime.InteropServices;

namespace Mep.Launcher.Pam;

/// <summary>A PAM call that did not succeed; the message names the step, the service, the user and pam_strerror.</summary>
public sealed class PamException(string message, int status) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// One PAM transaction (pam_start … pam_end) for a user and service, with the items MEP sets for a UEP start: no
/// remote host (the start is local, so pam_access matches the tty), tty "mep", and the user as the requesting user.
/// Not thread safe, and the modules are not all thread safe either: the callers serialise transactions.
/// </summary>
internal sealed unsafe class PamTransaction : IDisposable, IPamMessageSink
{
    /// <summary>PAM_TTY of every UEP start: what pam_access and pam_time rules match as the origin.</summary>
    public const string Tty = "mep";

    private readonly Action<bool, string> messages;
    private readonly GCHandle self;
    private readonly PamNative.Conversation* conversation;
    private nint handle;
    private int lastStatus = PamNative.Success;
    private bool sessionOpen;
    private bool credentials;

    private PamTransaction(string service, string user, Action<bool, string> messages)
    {
        Service = service;
        User = user;
        this.messages = messages;
        self = GCHandle.Alloc(this);
        conversation = (PamNative.Conversation*)NativeMemory.AllocZeroed((nuint)sizeof(PamNative.Conversation));
        conversation->Function = &PamNative.Converse;
        conversation->AppData = GCHandle.ToIntPtr(self);
    }

    public string Service { get; }

    public string User { get; }

    /// <summary>Starts a transaction; <paramref name="messages"/> receives what modules say (error flag, text).</summary>
    public static PamTransaction Start(string service, string user, Action<bool, string> messages)
    {
        var transaction = new PamTransaction(service, user, messages);
        try
        {
            nint h;
            var status = PamNative.Start(service, user, transaction.conversation, &h);
            if (status != PamNative.Success)
            {
                throw new PamException($"PAM (service {service}) cannot start for user {user}: {PamNative.Describe(0, status)}", status);
            }

            transaction.handle = h;
            transaction.SetItem(PamNative.ItemTty, Tty);
            transaction.SetItem(PamNative.ItemRemoteUser, user);
            return transaction;
        }
        catch
        {
            transaction.Dispose();
            throw;
        }
    }

    /// <summary>pam_acct_mgmt: the account checks (expiry, pam_access, pam_listfile …) for this user.</summary>
    public void CheckAccount() =>
        Check(PamNative.AccountManagement(handle, 0), "account check");

    /// <summary>pam_setcred(PAM_ESTABLISH_CRED) then pam_open_session, as login does.</summary>
    /// <param name="afterOpen">Runs right after pam_open_session returned, before anything else (even on failure).</param>
    public void OpenSession(Action? afterOpen = null)
    {
        Check(PamNative.SetCredentials(handle, PamNative.EstablishCredentials), "credentials");
        credentials = true;
        var status = PamNative.OpenSession(handle, 0);
        afterOpen?.Invoke();
        Check(status, "session");
        sessionOpen = true;
    }

    /// <summary>What the session modules put into the PAM environment (pam_env …), as NAME=value entries.</summary>
    public List<string> Environment() => PamNative.EnvironmentList(handle);

    /// <summary>Closes the session and deletes the credentials if they were set up (after a failure of ours).</summary>
    public void CloseSession()
    {
        if (sessionOpen)
        {
            sessionOpen = false;
            PamNative.CloseSession(handle, 0);
        }

        if (credentials)
        {
            credentials = false;
            PamNative.SetCredentials(handle, PamNative.DeleteCredentials);
        }
    }

    public void Dispose()
    {
        if (handle != 0)
        {
            PamNative.End(handle, lastStatus);
            handle = 0;
        }

        if (self.IsAllocated)
        {
            self.Free();
        }

        NativeMemory.Free(conversation);
    }

    void IPamMessageSink.Message(bool isError, string text) => messages(isError, text);

    private void SetItem(int item, string value)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* text = bytes)
        {
            Check(PamNative.SetItem(handle, item, text), $"item {item}"); // libpam keeps its own copy
        }
    }

    private void Check(int status, string step)
    {
        if (status == PamNative.Success)
        {
            return;
        }

        lastStatus = status;
        var what = step == "account check" ? "account check" : $"{step} step";
        throw new PamException($"PAM {what} (service {Service}) refused user {User}: {PamNative.Describe(handle, status)}", status);
    }
}
