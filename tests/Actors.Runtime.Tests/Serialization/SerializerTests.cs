using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Configuration;
using Actors.Runtime.Protocol;
using Actors.Runtime.Serialization;

namespace Actors.Runtime.Tests.Serialization;

/// <summary>Every public message round-trips through the MessagePack serializer bound in reference.conf.</summary>
public sealed class SerializerTests() : TestKit(RuntimeSettings.DefaultConfig())
{
    public static TheoryData<object> Messages() => new()
    {
        new Generate { RequestId = "a", Prompt = "hi ✓", MaxTokens = 7, Priority = -2, DeadlineUtc = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc), Sampling = new SamplingOptions { Temperature = 0.7f, TopK = 40, TopP = 0.9f, MinP = 0.05f, Seed = 42, StopSequences = ["\n\n"], StopTokenIds = [2], LogProbs = true, TopLogProbs = 3, LogitBias = new() { [5] = -100f, [9] = 2.5f } } },
        new Generate { RequestId = "b", PromptTokens = [1, 2, 3], AddBos = false },
        new Generate { RequestId = "e", Prompt = "embed me", Pooling = EmbeddingPooling.Last },
        new Cancel("a"),
        new TokenChunk("a", 3, [10, 11], "xy", [-0.5f, -1.25f]),
        new TokenChunk("a", 4, [12], "z", [-0.25f], [[new TokenLogProb(12, -0.25f), new TokenLogProb(7, -2.5f)]]),
        new GenerationCompleted("a", FinishReason.Length, new Usage(5, 7, 2), new Timings(1.5, 20.25, 100, [3.5, 4]), null),
        new GenerationCompleted("a", FinishReason.Error, new Usage(5, 0, 0), new Timings(0, 0, 1, []), "device failed"),
        new GenerationCompleted("e", FinishReason.Length, new Usage(3, 0, 0), new Timings(0, 1, 1, []), null, [0.6f, -0.8f]),
        new GenerationRejected("a", RejectionReason.QueueFull, "the waiting queue is full"),
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Public_messages_round_trip(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<RuntimeMessageSerializer>(serializer);
        var s = (RuntimeMessageSerializer)serializer;
        var back = s.FromBinary(s.ToBinary(message), s.Manifest(message));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(message, message.GetType()), System.Text.Json.JsonSerializer.Serialize(back, back.GetType()));
    }

    [Fact]
    public void An_unknown_manifest_is_a_serialization_exception()
    {
        var s = new RuntimeMessageSerializer((ExtendedActorSystem)Sys);
        Assert.Throws<SerializationException>(() => s.FromBinary([0x90], "zzz9"));
    }
}
