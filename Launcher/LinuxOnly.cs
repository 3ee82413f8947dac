// The launcher runs on Linux only (setuid, pidfds, /proc, Unix sockets): say so once for the whole assembly.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
