using Actors.Cli;
using Actors.Cli.Commands;

// The `actors` command line. Errors are one line on stderr and a non-zero exit code, never a stack trace.
var commands = new ICommand[]
{
    new GenerateCommand(),
    new ChatCommand(),
    new BenchCommand(),
    new ClusterBenchCommand(),
    new TopologyCommand(),
    new StageHostCommand(),
    new ServeCommand(),
    new SoakCommand(),
    new LogitsCommand(),
    new MakeModelCommand(),
    new TokenizeCommand(),
    new DetokenizeCommand(),
    new TemplateCommand(),
    new PlanCommand(),
    new ValidateCommand(),
}.ToDictionary(c => c.Name);

if (args.Length > 0 && args[0] is "--version" or "-V")
{
    Console.WriteLine("actors " + CliVersion.Text);
    return 0;
}

if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine("actors: an actor-based LLM inference runtime on Akka.NET");
    Console.WriteLine();
    Console.WriteLine("commands:");
    foreach (var c in commands.Values) Console.WriteLine($"  {c.Name,-12}{c.Summary}");
    Console.WriteLine();
    Console.WriteLine("'actors <command> --help' lists a command's options; 'actors --version' prints the version.");
    return args.Length == 0 ? 2 : 0;
}

if (!commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine($"actors: unknown command '{args[0]}' (known: {string.Join(", ", commands.Keys)})");
    return 2;
}

var rest = args.Skip(1).ToArray();
if (rest.Contains("--help") || rest.Contains("-h"))
{
    Console.WriteLine(Arguments.Help(command.Name, command.Summary, command.Options));
    return 0;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
try
{
    var parsed = new Arguments(command.Name, rest, command.Options);
    return await command.RunAsync(parsed, Console.Out, cancel.Token);
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("actors: cancelled");
    return 130;
}
catch (Exception ex)
{
    Console.Error.WriteLine($"actors {command.Name}: {CliErrors.Describe(ex)}");
    return ex is CliException ? 2 : 1;
}
