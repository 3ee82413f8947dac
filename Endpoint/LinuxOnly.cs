// The UEP and its workers run on Linux only (libc calls, setsid, Unix file modes, Slurm).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
