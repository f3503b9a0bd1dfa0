using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>What one request produced, collected from the messages its requester received.</summary>
public sealed record Outcome(string RequestId, List<int> Tokens, string Text, GenerationCompleted? Completed, GenerationRejected? Rejected);

/// <summary>Starts a runtime in its own actor system and collects requests' outcomes.</summary>
public sealed class RuntimeHarness : IDisposable
{
    public ActorSystem System { get; }
    public LlmRuntime Runtime { get; }

    public RuntimeHarness(Config config, RuntimeSetup? setup = null, string name = "harness")
    {
        var bootstrap = Akka.Actor.BootstrapSetup.Create().WithConfig(config);
        System = setup is null ? ActorSystem.Create(name, bootstrap) : ActorSystem.Create(name, bootstrap.And(setup));
        Runtime = LlmRuntime.Get(System);
    }

    /// <summary>Sends every request from its own probe at once, then collects each outcome.</summary>
    public List<Outcome> RunConcurrently(IReadOnlyList<Generate> requests, TestKitBase kit, TimeSpan? timeout = null)
    {
        var probes = requests.Select(_ => kit.CreateTestProbe(System)).ToList();
        for (int i = 0; i < requests.Count; i++) Runtime.Router.Tell(requests[i], probes[i].Ref);
        return requests.Select((r, i) => Collect(probes[i], r.RequestId, timeout)).ToList();
    }

    public Outcome Run(Generate request, TestKitBase kit, TimeSpan? timeout = null) => RunConcurrently([request], kit, timeout)[0];

    public static Outcome Collect(TestProbe probe, string requestId, TimeSpan? timeout = null)
    {
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        while (true)
        {
            var msg = probe.ExpectMsg<object>(timeout ?? TimeSpan.FromSeconds(60));
            switch (msg)
            {
                case TokenChunk c:
                    Assert.Equal(requestId, c.RequestId);
                    tokens.AddRange(c.TokenIds);
                    text.Append(c.Text);
                    break;
                case GenerationCompleted done:
                    return new Outcome(requestId, tokens, text.ToString(), done, null);
                case GenerationRejected rejected:
                    return new Outcome(requestId, tokens, text.ToString(), null, rejected);
                default:
                    throw new InvalidOperationException($"unexpected {msg.GetType().Name}");
            }
        }
    }

    /// <summary>Waits until the replica's scheduler reports no KV block in use.</summary>
    public void AwaitAllBlocksFree(TestKitBase kit, int replica = 0) =>
        kit.AwaitAssert(() =>
        {
            var g = Runtime.Metrics.Replica(replica);
            Assert.Equal(0, g.BlocksUsed);
            Assert.Equal(0, g.Running);
            Assert.Equal(0, g.Waiting);
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));

    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(20));
}
