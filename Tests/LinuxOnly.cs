// MEP runs on Linux only (setuid, Unix sockets, /proc): say so once for the whole test assembly.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
