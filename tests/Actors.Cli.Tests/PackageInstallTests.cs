using System.Diagnostics;
using Actors.Inference.Synthetic;

namespace Actors.Cli.Tests;

/// <summary>
/// SLOW (about 2-4 minutes on 2 cores): `dotnet pack -c Release -o FEED` at the repository root, then
/// `dotnet tool install actors` from FEED and `actors --version`, then a scratch project outside the
/// repository that references the library packages from FEED, builds, and calls the runtime through
/// AsChatClient(). Offline: the scratch NuGet configuration has FEED as its only source and the
/// machine's package cache (filled by the solution's own restore) as a read-only fallback folder, and our
/// packages land in a fresh packages folder, so a stale copy of them can never be picked up.
/// </summary>
public sealed class PackageInstallTests
{
    private static readonly TimeSpan StepLimit = TimeSpan.FromMinutes(6);

    [Fact]
    [Trait("Duration", "minutes")]
    public void Packs_installs_the_actors_tool_and_a_scratch_project_calls_the_runtime_from_the_packages()
    {
        string root = RepositoryRoot();
        string work = Directory.CreateTempSubdirectory("actors-pack-").FullName;
        try
        {
            string feed = Path.Combine(work, "feed"), packages = Path.Combine(work, "packages"), tools = Path.Combine(work, "tools");
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            string config = Path.Combine(work, "nuget.config");
            File.WriteAllText(config, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources><clear /><add key="feed" value="{feed}" /></packageSources>
                  <fallbackPackageFolders><clear /><add key="cache" value="{cache}" /></fallbackPackageFolders>
                  <config><add key="globalPackagesFolder" value="{packages}" /></config>
                </configuration>
                """);

            Run(root, "pack", "-c", "Release", "-o", feed, "-nodeReuse:false");
            var produced = Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).ToList();
            foreach (var id in new[] { "actors", "Actors.Runtime", "Actors.Inference", "Actors.Interop", "Actors.Server", "Actors.Extensions.AI", "Actors.Cuda", "Actors.Simulation", "Actors.Cluster" })
                Assert.Contains(produced, f => f!.StartsWith(id + ".0", StringComparison.Ordinal));
            Assert.DoesNotContain(produced, f => f!.Contains("Tests", StringComparison.Ordinal) || f!.Contains("Benchmarks", StringComparison.Ordinal));

            Run(work, "tool", "install", "--tool-path", tools, "--configfile", config, "actors");
            string version = Run(work, Path.Combine(tools, OperatingSystem.IsWindows() ? "actors.exe" : "actors"), "--version");
            Assert.Matches(@"^actors \d+\.\d+\.\d+", version.Trim());

            string app = Path.Combine(work, "app");
            Directory.CreateDirectory(app);
            File.Copy(config, Path.Combine(app, "nuget.config"));
            File.WriteAllText(Path.Combine(app, "app.csproj"), """
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Actors.Extensions.AI" Version="0.1.0" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using Akka.Actor;
                using Akka.Configuration;
                using Actors.Runtime;
                using Actors.Extensions.AI;
                using Microsoft.Extensions.AI;

                var system = ActorSystem.Create("packaged", ConfigurationFactory.ParseString(File.ReadAllText(args[0])));
                var client = LlmRuntime.Get(system).AsChatClient("packaged");
                var response = await client.GetResponseAsync("Hello", new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
                Console.WriteLine($"model={response.ModelId} output_tokens={response.Usage!.OutputTokenCount} finish={response.FinishReason}");
                await system.Terminate();
                """);
            string model = SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec { Dim = 64, Ffn = 128, Layers = 2, Vocab = 320, Context = 512, Seed = 5 },
                Path.Combine(work, "models"));
            string hocon = Path.Combine(work, "app.conf");
            File.WriteAllText(hocon, $$"""
                akka.loglevel = WARNING
                actors-runtime {
                  model.path = "{{model.Replace("\\", "/")}}"
                  devices = [ { id = "cpu:0", kind = cpu, threads = 1 } ]
                  kv-cache.num-blocks = 64
                }
                """);
            string output = Run(app, "run", "-c", "Release", "--", hocon);
            Assert.Matches(@"model=packaged output_tokens=[1-4] finish=(stop|length)", output);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) return dir.FullName;
        throw new InvalidOperationException("Actors.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Runs `dotnet ARGS` (or a program, when the first argument is a path) and returns stdout; fails with both streams.</summary>
    private static string Run(string workingDirectory, string first, params string[] rest)
    {
        bool program = Path.IsPathRooted(first);
        var start = new ProcessStartInfo(program ? first : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (!program) start.ArgumentList.Add(first);
        foreach (var a in rest) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment.Remove("MSBuildExtensionsPath"); // the test host's MSBuild variables must not leak into a fresh build
        start.Environment.Remove("MSBuildSDKsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(StepLimit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{first} {string.Join(' ', rest)} ran past {StepLimit.TotalMinutes} minutes:\n{stdout.Result}\n{stderr.Result}");
        }
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{first} {string.Join(' ', rest)} exited {process.ExitCode}:\n{Tail(stdout.Result)}\n{Tail(stderr.Result)}");
        return stdout.Result;
    }

    private static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;
}
