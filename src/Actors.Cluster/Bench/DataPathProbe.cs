using System.Runtime.CompilerServices;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;

namespace Actors.Cluster.Bench;

/// <summary>Round trips of small control messages over Akka.Remote while bulk bytes move one way or another.</summary>
/// <param name="Unreachable">Times either node's failure detector (heartbeat 200 ms, acceptable pause 1 s) marked the other unreachable during the phase.</param>
public sealed record DataPathPhase(string Name, double MegabytesPerSecond, double PingP50Ms, double PingP99Ms, double PingMaxMs, int Unreachable);

/// <summary>
/// The measurement behind the bulk-data choice for cross-node stages (docs/cluster.md): two cluster members on
/// loopback (a failure detector tuned for seconds, as the tests use, whose unreachable verdicts are counted); small pings over Akka.Remote alone, then while the same bytes go (a) as Akka.Remote messages in
/// chunks under the 128,000-byte frame, 32 in flight, and (b) over a dedicated TCP connection. Pings share
/// the one Akka.Remote connection per node pair with cluster heartbeats: their delay is what bulk data on
/// that connection does to the heartbeats.
/// </summary>
public static class DataPathProbe
{
    private const int ChunkBytes = 96 * 1024;
    private const int PingBytes = 8;

    /// <summary>Echoes pings (8-byte arrays), acknowledges chunks with one byte.</summary>
    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<byte[]>(b => Sender.Tell(b.Length == PingBytes ? b : new byte[1]));
    }

    /// <summary>Counts the other member becoming unreachable.</summary>
    private sealed class Watcher : ReceiveActor
    {
        public Watcher(StrongBox<int> unreachable)
        {
            Receive<Akka.Cluster.ClusterEvent.UnreachableMember>(_ => Interlocked.Increment(ref unreachable.Value));
            Receive<Akka.Cluster.ClusterEvent.IClusterDomainEvent>(_ => { });
        }

        protected override void PreStart() => Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(Akka.Cluster.ClusterEvent.UnreachableMember));
    }

    private static readonly StrongBox<int> s_unreachable = new();

    public static async Task<IReadOnlyList<DataPathPhase>> RunAsync(int megabytes)
    {
        Config Remote() => ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, maximum-frame-size = 128000b }
            akka.cluster.failure-detector { heartbeat-interval = 200ms, acceptable-heartbeat-pause = 1s }
            akka.coordinated-shutdown.run-by-actor-system-terminate = off
            akka.loglevel = ERROR
            """);
        var a = ActorSystem.Create("probe", Remote());
        var b = ActorSystem.Create("probe", Remote());
        try
        {
            var echoLocal = b.ActorOf(Props.Create(() => new Echo()), "echo");
            var bAddress = ((ExtendedActorSystem)b).Provider.DefaultAddress;
            var aAddress = ((ExtendedActorSystem)a).Provider.DefaultAddress;
            var up = new TaskCompletionSource();
            Akka.Cluster.Cluster.Get(b).RegisterOnMemberUp(() => up.TrySetResult());
            Akka.Cluster.Cluster.Get(a).Join(aAddress);
            Akka.Cluster.Cluster.Get(b).Join(aAddress);
            await up.Task.WaitAsync(TimeSpan.FromSeconds(20));
            a.ActorOf(Props.Create(() => new Watcher(s_unreachable)));
            b.ActorOf(Props.Create(() => new Watcher(s_unreachable)));
            var echo = await a.ActorSelection(new RootActorPath(bAddress) / "user" / "echo").ResolveOne(TimeSpan.FromSeconds(10));
            long total = (long)megabytes << 20;
            var phases = new List<DataPathPhase>();

            phases.Add(await Measure("pings alone", echo, _ => Task.CompletedTask, 0));
            phases.Add(await Measure("bulk as Akka.Remote messages (96 KiB chunks)", echo, async stop =>
            {
                var window = new SemaphoreSlim(32);
                var chunk = new byte[ChunkBytes];
                Random.Shared.NextBytes(chunk);
                var acks = new List<Task>();
                for (long sent = 0; sent < total; sent += ChunkBytes)
                {
                    await window.WaitAsync();
                    acks.Add(echo.Ask<byte[]>(chunk, TimeSpan.FromSeconds(60)).ContinueWith(_ => window.Release()));
                }
                await Task.WhenAll(acks);
            }, total));
            phases.Add(await Measure("bulk on a dedicated TCP connection", echo, async stop =>
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var accept = listener.AcceptTcpClientAsync();
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
                using var server = await accept;
                listener.Stop();
                var read = Task.Run(async () =>
                {
                    var buffer = new byte[ChunkBytes];
                    var s = server.GetStream();
                    long got = 0;
                    while (got < total)
                    {
                        int n = await s.ReadAsync(buffer);
                        if (n == 0) break;
                        got += n;
                    }
                });
                var chunk = new byte[ChunkBytes];
                Random.Shared.NextBytes(chunk);
                var stream = client.GetStream();
                for (long sent = 0; sent < total; sent += ChunkBytes) await stream.WriteAsync(chunk);
                await read;
            }, total));
            GC.KeepAlive(echoLocal);
            return phases;
        }
        finally
        {
            await Task.WhenAll(a.Terminate(), b.Terminate());
        }
    }

    /// <summary>Runs <paramref name="bulk"/> while pinging every 2 ms; pings alone run for one second.</summary>
    private static async Task<DataPathPhase> Measure(string name, IActorRef echo, Func<CancellationToken, Task> bulk, long bytes)
    {
        using var stop = new CancellationTokenSource();
        var rtts = new List<double>();
        var ping = new byte[PingBytes];
        var pinger = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                long t = Stopwatch.GetTimestamp();
                await echo.Ask<byte[]>(ping, TimeSpan.FromSeconds(60));
                rtts.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                await Task.Delay(2);
            }
        });
        int unreachable0 = Volatile.Read(ref s_unreachable.Value);
        var clock = Stopwatch.StartNew();
        if (bytes == 0) await Task.Delay(1000);
        else await bulk(stop.Token);
        double seconds = clock.Elapsed.TotalSeconds;
        stop.Cancel();
        await pinger;
        rtts.Sort();
        double P(double q) => rtts.Count == 0 ? double.NaN : rtts[Math.Min(rtts.Count - 1, (int)(q * rtts.Count))];
        await Task.Delay(1200); // a verdict from a heartbeat delayed near the end comes after the pause
        return new DataPathPhase(name, bytes / 1e6 / seconds, P(0.5), P(0.99), rtts.Count == 0 ? double.NaN : rtts[^1], Volatile.Read(ref s_unreachable.Value) - unreachable0);
    }
}
