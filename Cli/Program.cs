using System.CommandLine;
using Mep.Cli;

return await CliApp.RunAsync(args, new InvocationConfiguration(), CliEnvironment.Process);
