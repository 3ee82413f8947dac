// The UEP and its workers run only on Linux login and compute nodes (setsid, process groups, Unix file modes).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
