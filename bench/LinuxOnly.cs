// The site harness drives a Linux site: a root launcher, Unix accounts and modes, /proc for memory figures.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
