using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Actors.Cluster;
using Actors.Cluster.Configuration;

namespace Actors.Cli.Tests;

/// <summary>
/// `actors serve` processes forming a cluster on loopback: a gateway (HTTP) and two workers; one worker is
/// killed with SIGKILL while it streams, and every client stream still completes with the text a
/// surviving worker gives alone.
/// </summary>
public sealed class ClusterServeTests
{
    private sealed class Node : IDisposable
    {
        private readonly Process _process;
        public List<string> Lines { get; } = [];
        public Uri? Api { get; private set; }

        public Node(string readyPrefix, params string[] args)
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetTempPath(), // no config/default.conf here: the built-in defaults
            };
            foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "actors.dll"), "serve", "--threads", "1" }.Concat(args)) start.ArgumentList.Add(arg);
            start.Environment.Remove("ACTORS_API_KEY");
            _process = Process.Start(start)!;
            _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (Lines) Lines.Add("stderr: " + e.Data); };
            _process.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (DateTime.UtcNow < deadline)
            {
                string? line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("serve exited early:\n" + string.Join("\n", Lines));
                lock (Lines) Lines.Add(line);
                int at = line.IndexOf("http://", StringComparison.Ordinal);
                if (at >= 0 && line.StartsWith("serving ", StringComparison.Ordinal)) Api = new Uri(line[at..line.IndexOf(' ', at)].TrimEnd('/') + "/");
                if (line.StartsWith(readyPrefix, StringComparison.Ordinal))
                {
                    _ = Task.Run(() => { while (_process.StandardOutput.ReadLine() is { } more) lock (Lines) Lines.Add(more); });
                    return;
                }
            }
            throw new TimeoutException("serve did not start: " + string.Join("\n", Lines));
        }

        public void KillHard() => _process.Kill(); // SIGKILL: no leaving, no shutdown hooks

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }

    private static async Task<(string Text, string? Finish, int Chunks)> Stream(HttpClient http, string prompt, Action<int> progress)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "completions")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { prompt, max_tokens = 200, ignore_eos = true, temperature = 0, stream = true }), Encoding.UTF8, "application/json"),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var text = new StringBuilder();
        string? finish = null;
        int chunks = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            using var doc = JsonDocument.Parse(line[6..]);
            var choice = doc.RootElement.GetProperty("choices")[0];
            text.Append(choice.GetProperty("text").GetString());
            if (choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String) finish = f.GetString();
            progress(++chunks);
        }
        return (text.ToString(), finish, chunks);
    }

    [Fact]
    public async Task A_worker_killed_with_sigkill_mid_stream_loses_no_request_and_changes_no_text()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int clusterPort = FreePorts.Next();
        using var gateway = new Node("serving ", "--role", "gateway", "--cluster-port", clusterPort.ToString(), "--port", "0");
        string seed = $"127.0.0.1:{clusterPort}";
        using var doomed = new Node("worker:", "--role", "worker", "--cluster-port", "0", "--seed", seed);
        using var survivor = new Node("worker:", "--role", "worker", "--cluster-port", "0", "--seed", seed);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await ClusterTopologyClient.QueryAsync(new SeedNode("127.0.0.1", clusterPort), "actors", TimeSpan.FromSeconds(5))).Workers.Length < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the gateway did not see both workers:\n" + string.Join("\n", gateway.Lines));
            await Task.Delay(100);
        }

        using var http = new HttpClient { BaseAddress = gateway.Api, Timeout = TimeSpan.FromSeconds(120) };
        var prompts = Enumerable.Range(0, 6).Select(i => $"request {i}: the quick brown fox {i * 7}").ToArray();
        var progress = new int[prompts.Length];
        var streams = prompts.Select((p, i) => Task.Run(() => Stream(http, p, n => Volatile.Write(ref progress[i], n)))).ToArray();
        while (progress.Any(p => Volatile.Read(ref p) < 5))
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(30), "the streams did not start");
            await Task.Delay(10);
        }
        doomed.KillHard();
        var results = await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(90));

        var topology = await ClusterTopologyClient.QueryAsync(new SeedNode("127.0.0.1", clusterPort), "actors", TimeSpan.FromSeconds(5));
        Assert.True(topology.Readmitted > 0, "no request was re-admitted: the killed worker held none");
        Assert.Equal(0, topology.FailedTerminally);
        // The survivor alone, same greedy requests: the same text, so nothing was lost or repeated in the failover.
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal("length", results[i].Finish);
            var again = await Stream(http, prompts[i], _ => { });
            Assert.Equal(again.Text, results[i].Text);
        }
    }
}
