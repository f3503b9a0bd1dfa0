using Actors.Runtime.Internal;
using Akka.Actor;
using Akka.TestKit.Xunit2;

namespace Actors.Runtime.Tests.Runtime;

public class FactoryProducerTests : TestKit
{
    [Fact]
    public void Each_spawn_runs_the_delegate_once_and_the_actor_gets_its_arguments()
    {
        int calls = 0;
        var tags = new[] { "a", "b" };
        foreach (var tag in tags)
        {
            var actor = Sys.ActorOf(FactoryProducer<Tagged>.Props(() => { calls++; return new Tagged(tag); }));
            actor.Tell("tag?", TestActor);
            ExpectMsg(tag);
        }
        Assert.Equal(2, calls);
    }

    private sealed class Tagged : ReceiveActor
    {
        public Tagged(string tag) => Receive<string>(_ => Sender.Tell(tag));
    }
}
