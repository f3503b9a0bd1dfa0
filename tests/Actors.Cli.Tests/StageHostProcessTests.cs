using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Actors.Inference.Synthetic;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cli.Tests;

/// <summary>
/// `actors stage-host` as its own process serving the second stage of a runtime in this process: the
/// greedy tokens of one device; a SIGKILL of the stage host mid-run ends every request with an error naming
/// the remote stage, and nothing hangs.
/// </summary>
public sealed class StageHostProcessTests
{
    private static Process StartStageHost(int port, List<string> lines)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "actors.dll"), "stage-host", "--port", port.ToString(), "--threads", "1" }) start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (lines) lines.Add("stderr: " + e.Data); };
        process.BeginErrorReadLine();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            lock (lines) lines.Add(line);
            if (line.StartsWith("place stages here", StringComparison.Ordinal)) return process;
        }
        throw new InvalidOperationException("stage-host exited early:\n" + string.Join("\n", lines));
    }

    private static Config Runtime(string devices, string extra = "") => ConfigurationFactory.ParseString($$"""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
        akka.loglevel = ERROR
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        actors-runtime {
          model.path = "{{DefaultModel.EnsurePath().Replace("\\", "/")}}"
          devices = [ {{devices}} ]
          kv-cache.num-blocks = 200
          warm-up = off
          transfer.network-timeout = 5s
          {{extra}}
        }
        """);

    private static List<Generate> Requests(int count, int maxTokens) => Enumerable.Range(0, count).Select(i => new Generate
    {
        RequestId = $"s{i}",
        PromptTokens = Enumerable.Range(0, 20 + i).Select(k => 3 + (k * 31 + i * 7) % 500).ToArray(),
        MaxTokens = maxTokens,
        Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
    }).ToList();

    [Fact]
    public async Task A_stage_host_process_serves_the_second_stage_with_the_tokens_of_one_device_and_its_kill_fails_requests_cleanly()
    {
        var requests = Requests(3, 24);
        var single = ActorSystem.Create("single", Runtime("{ id = \"cpu:0\", kind = cpu, threads = 1 }"));
        List<int[]> expected;
        try
        {
            var runtime = LlmRuntime.Get(single);
            expected = (await Task.WhenAll(requests.Select(r => runtime.GenerateAsync(r)))).Select(r => r.TokenIds.ToArray()).ToList();
        }
        finally
        {
            await single.Terminate();
        }

        int port = FreePorts.Next();
        var lines = new List<string>();
        using var host = StartStageHost(port, lines);
        var a = ActorSystem.Create("two-nodes", Runtime(
            $"{{ id = \"cpu:0\", kind = cpu, threads = 1 }}, {{ id = \"cpu:1\", kind = cpu, node = \"akka.tcp://actors@127.0.0.1:{port}\" }}", "layout.pipeline = 2"));
        try
        {
            var runtime = LlmRuntime.Get(a);
            var results = await Task.WhenAll(requests.Select(r => runtime.GenerateAsync(r))).WaitAsync(TimeSpan.FromSeconds(60));
            for (int i = 0; i < requests.Count; i++) Assert.Equal(expected[i], results[i].TokenIds);
            Assert.True(runtime.Transfers.ByKind[Actors.Runtime.Transfer.PathKind.Network].Bytes > 0);

            var running = Requests(2, 1900).Select(r => runtime.GenerateAsync(r with { RequestId = r.RequestId + "-long" })).ToList();
            long count0 = runtime.Transfers.ByKind[Actors.Runtime.Transfer.PathKind.Network].Count;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (runtime.Transfers.ByKind[Actors.Runtime.Transfer.PathKind.Network].Count < count0 + 20 && DateTime.UtcNow < deadline) await Task.Delay(20);
            host.Kill(); // SIGKILL
            foreach (var task in running)
            {
                var result = await task.WaitAsync(TimeSpan.FromSeconds(20));
                Assert.Equal(FinishReason.Error, result.Completed.Reason);
                Assert.Contains("remote stage cpu:1", result.Completed.Error);
            }
        }
        finally
        {
            await a.Terminate();
            if (!host.HasExited) host.Kill(entireProcessTree: true);
        }
    }
}
