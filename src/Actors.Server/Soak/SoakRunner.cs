using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Actors.Runtime;

namespace Actors.Server.Soak;

/// <summary>
/// Drives N requests over loopback HTTP, C at a time, with random streaming and non-streaming,
/// chat and completions, client cancels, disconnects, slow readers and bad bodies, then checks that
/// every request got a terminal reply and, for an in-process server, that no KV block or request actor
/// is left behind. Each request's behaviour comes from (seed, index), so a run can be repeated.
/// </summary>
public static class SoakRunner
{
    private enum Kind { Normal, Bad, Disconnect, Cancel, Slow }

    private enum Outcome { Completed, Rejected, BadRequestRefused, ClientGone, FailedByInjectedFault, FailedWithError, Lost }

    /// <summary>What the runtime's error replies say when an injected fault ended the request (see actors-runtime.fault-injection).</summary>
    private static readonly string[] InjectedFaultMarks = ["injected fault", "step-timeout", "invalid logits"];

    private static readonly string[] BadBodies =
    [
        """{"prompt":"hi","logprobs":1.5}""", """{"prompt":"hi","stop":[1]}""", """{"prompt":"\ud800"}""",
        """{"prompt":"hi","n":0}""", """{"prompt":"hi","temperature":9}""", """{"prompt": """, "[]", """{"prompt":"hi","max_tokens":"x"}""",
    ];

    private static readonly string[] Words = ["the", "actor", "model", "once", "upon", "a", "time", "token", "stream", "quiet", "river", "blue", "seven"];

    /// <param name="api">The server's /v1/ address.</param>
    /// <param name="system">The actor system of an in-process server, for leak checks; null for a remote one.</param>
    public static async Task<SoakReport> RunAsync(Uri api, SoakOptions options, ActorSystem? system, CancellationToken cancel = default)
    {
        options.Validate();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency * 2, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = api,
            Timeout = Timeout.InfiniteTimeSpan, // each request has its own bound
        };
        if (options.ApiKey is { } key) http.DefaultRequestHeaders.Authorization = new("Bearer", key);

        var counts = new int[Enum.GetValues<Outcome>().Length];
        var failures = new List<string>();
        int next = -1, done = 0;
        long peakFirst = 0, peakSecond = 0;
        var watch = Stopwatch.StartNew();
        using var sampling = new CancellationTokenSource();
        var sampler = system is null ? Task.CompletedTask : Task.Run(async () =>
        {
            using var self = Process.GetCurrentProcess();
            while (!sampling.IsCancellationRequested)
            {
                self.Refresh();
                long rss = self.WorkingSet64;
                if (Volatile.Read(ref done) < options.Requests / 2) peakFirst = Math.Max(peakFirst, rss);
                else peakSecond = Math.Max(peakSecond, rss);
                try { await Task.Delay(100, sampling.Token); } catch (OperationCanceledException) { }
            }
        });

        var workers = Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < options.Requests && !cancel.IsCancellationRequested)
            {
                var (outcome, detail) = await One(http, options, i, cancel);
                if (outcome == Outcome.FailedWithError && options.FaultRate > 0 && InjectedFaultMarks.Any(m => detail.Contains(m, StringComparison.Ordinal)))
                    outcome = Outcome.FailedByInjectedFault;
                Interlocked.Increment(ref counts[(int)outcome]);
                if (outcome is Outcome.Lost or Outcome.FailedWithError)
                    lock (failures) if (failures.Count < 5) failures.Add($"request {i}: {outcome}: {detail}");
                Interlocked.Increment(ref done);
                // A well-behaved client waits as told before its next request: a replica out of rotation for a
                // few seconds would otherwise turn the rest of the run into a burst of instant rejections.
                if (outcome == Outcome.Rejected && double.TryParse(detail, System.Globalization.CultureInfo.InvariantCulture, out double wait))
                    await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(wait, 0, 5)), cancel);
            }
        }, cancel)).ToArray();
        await Task.WhenAll(workers);
        double seconds = watch.Elapsed.TotalSeconds;

        int? blocksLeaked = null, actorsLeaked = null;
        if (system is not null)
            (blocksLeaked, actorsLeaked) = await Settle(system, TimeSpan.FromSeconds(15));
        sampling.Cancel();
        await sampler;
        double? liveHeap = system is null ? null : Math.Round(GC.GetTotalMemory(forceFullCollection: true) / 1048576.0, 1);
        static double? Mb(long bytes) => bytes > 0 ? Math.Round(bytes / 1048576.0, 1) : null;
        return new SoakReport(options.Requests, counts[(int)Outcome.Completed], counts[(int)Outcome.Rejected], counts[(int)Outcome.BadRequestRefused],
            counts[(int)Outcome.ClientGone], counts[(int)Outcome.FailedByInjectedFault], counts[(int)Outcome.FailedWithError], counts[(int)Outcome.Lost], blocksLeaked, actorsLeaked,
            system is null ? null : Mb(Math.Max(peakFirst, peakSecond)), system is null ? null : Mb(peakFirst), system is null ? null : Mb(peakSecond), liveHeap,
            Math.Round(seconds, 2), failures);
    }

    /// <summary>One request's outcome and a detail: what failed, or for a rejection the seconds its Retry-After asked to wait.</summary>
    private static async Task<(Outcome, string)> One(HttpClient http, SoakOptions o, int index, CancellationToken cancel)
    {
        var random = new Random(HashCode.Combine(o.Seed, index));
        double u = random.NextDouble();
        var kind = u < o.BadRequestRate ? Kind.Bad
            : u < o.BadRequestRate + o.DisconnectRate ? Kind.Disconnect
            : u < o.BadRequestRate + o.DisconnectRate + o.CancelRate ? Kind.Cancel
            : u < o.BadRequestRate + o.DisconnectRate + o.CancelRate + o.SlowReaderRate ? Kind.Slow
            : Kind.Normal;
        bool chat = random.Next(2) == 0;
        bool stream = kind is Kind.Disconnect or Kind.Slow || random.Next(2) == 0;
        string body = kind == Kind.Bad ? BadBodies[random.Next(BadBodies.Length)] : Body(random, chat, stream, o.MaxTokens);

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bounded.CancelAfter(o.RequestTimeout);
        using var client = CancellationTokenSource.CreateLinkedTokenSource(bounded.Token);
        if (kind == Kind.Cancel) client.CancelAfter(random.Next(0, 80));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, chat ? "chat/completions" : "completions")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, client.Token);
            int status = (int)response.StatusCode;
            if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
                return (Outcome.Rejected, (response.Headers.RetryAfter?.Delta ?? TimeSpan.Zero).TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (kind == Kind.Bad)
                return status == 400 && await IsOpenAiError(response, client.Token) ? (Outcome.BadRequestRefused, "")
                    : (Outcome.FailedWithError, $"bad body {body} answered {status}");
            if (status != 200) return (Outcome.FailedWithError, $"{status}: {await response.Content.ReadAsStringAsync(client.Token)}");
            if (!stream)
            {
                using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(client.Token));
                return doc.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String
                    ? (Outcome.Completed, "") : (Outcome.FailedWithError, "no finish_reason");
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(client.Token));
            int events = 0, dropAfter = random.Next(1, 4);
            bool finished = false;
            while (await reader.ReadLineAsync(client.Token) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                if (line == "data: [DONE]") return finished ? (Outcome.Completed, "") : (Outcome.FailedWithError, "[DONE] without a finish_reason");
                if (line.StartsWith("data: {\"error\"", StringComparison.Ordinal)) return (Outcome.FailedWithError, line);
                if (line.Contains("\"finish_reason\":\"", StringComparison.Ordinal)) finished = true;
                if (++events >= dropAfter && kind == Kind.Disconnect) return (Outcome.ClientGone, ""); // disposing the response drops the connection
                if (kind == Kind.Slow) await Task.Delay(random.Next(5, 40), client.Token);
            }
            return (Outcome.Lost, $"the stream ended after {events} events without [DONE]");
        }
        catch (OperationCanceledException) when (!bounded.IsCancellationRequested && kind == Kind.Cancel)
        {
            return (Outcome.ClientGone, "");
        }
        catch (OperationCanceledException) when (bounded.IsCancellationRequested && !cancel.IsCancellationRequested)
        {
            return (Outcome.Lost, $"no terminal reply within {o.RequestTimeout.TotalSeconds:0} s");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return kind == Kind.Cancel && client.IsCancellationRequested ? (Outcome.ClientGone, "") : (Outcome.Lost, ex.Message);
        }
    }

    private static async Task<bool> IsOpenAiError(HttpResponseMessage response, CancellationToken cancel)
    {
        try
        {
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
            return doc.RootElement.GetProperty("error").GetProperty("type").GetString() == ApiErrors.InvalidRequest;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    private static string Body(Random random, bool chat, bool stream, int maxTokens)
    {
        string text = string.Join(' ', Enumerable.Range(0, random.Next(1, 24)).Select(_ => Words[random.Next(Words.Length)]));
        var fields = new Dictionary<string, object>
        {
            ["max_tokens"] = random.Next(1, maxTokens + 1),
            ["temperature"] = Math.Round(random.NextDouble(), 2),
            ["seed"] = random.Next(),
            ["stream"] = stream,
        };
        if (chat) fields["messages"] = new[] { new { role = "user", content = text } };
        else fields["prompt"] = text;
        if (random.Next(4) == 0) fields["stop"] = new[] { Words[random.Next(Words.Length)] };
        return JsonSerializer.Serialize(fields);
    }

    /// <summary>Waits for the runtime to go idle, then counts KV blocks still in use and request actors still alive.</summary>
    private static async Task<(int Blocks, int Actors)> Settle(ActorSystem system, TimeSpan limit)
    {
        var metrics = LlmRuntime.Get(system).Metrics;
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            int blocks = metrics.Replicas().Sum(r => r.BlocksUsed);
            int busy = metrics.Replicas().Sum(r => r.Running + r.Waiting);
            int actors = await CountRequestActors(system);
            if (blocks == 0 && busy == 0 && actors == 0 || DateTime.UtcNow > deadline) return (blocks, actors);
            await Task.Delay(100);
        }
    }

    /// <summary>Request actors are the router's children: asks them all to identify themselves.</summary>
    private static async Task<int> CountRequestActors(ActorSystem system)
    {
        using var inbox = Inbox.Create(system);
        system.ActorSelection(LlmRuntime.Get(system).Router.Path.ToStringWithoutAddress() + "/*").Tell(new Identify("soak"), inbox.Receiver);
        int count = 0;
        while (true)
        {
            object message;
            try
            {
                message = await inbox.ReceiveAsync(TimeSpan.FromMilliseconds(300));
            }
            catch (Exception ex) when (ex is TimeoutException or AskTimeoutException)
            {
                break;
            }
            if (message is not ActorIdentity identity) break; // a timeout reported as a message
            if (identity.Subject is not null) count++;
        }
        return count;
    }
}
