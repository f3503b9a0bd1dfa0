using Akka.Actor;
using Akka.Event;

namespace Actors.Runtime.Internal;

/// <summary>Create a child of the <see cref="RuntimeGuardian"/>; answered with its <see cref="IActorRef"/>.</summary>
internal sealed record CreateRuntimeChild(Props Props, string Name) : INoSerializationVerificationNeeded;

/// <summary>
/// The parent of the runtime's long-lived actors (router, schedulers, device actors, transfer actor,
/// migration coordinator), so that what a failure of each does is decided here, explicitly:
/// <list type="bullet">
/// <item>a <b>scheduler</b> is stopped, never restarted: its sequences' state (KV block tables, the
/// policy's queues) cannot be rebuilt, so its PostStop ends every request it held with an error and
/// marks its replica failed; the router stops sending there and /ready counts it out;</item>
/// <item>a <b>device actor</b> is stopped: its stages stop with it, and each replica with a stage there
/// fails the same way (its scheduler watches its stages);</item>
/// <item>the <b>router</b> is resumed: it updates its maps only after the calls that can throw, and a
/// restart would orphan every live request actor (they are its children);</item>
/// <item>the <b>transfer actor</b> and the <b>migration coordinator</b> are restarted: they hold no
/// request state (accounting lives outside them); a step lost on the way is failed by the step watchdog.</item>
/// </list>
/// </summary>
internal sealed class RuntimeGuardian : UntypedActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public static Props Props() => Akka.Actor.Props.Create(() => new RuntimeGuardian());

    protected override void OnReceive(object message)
    {
        if (message is CreateRuntimeChild c) Sender.Tell(Context.ActorOf(c.Props, c.Name));
        else Unhandled(message);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new ByChildStrategy(_log);

    /// <summary>One-for-one, the directive picked by the failed child's name (the decider alone does not see the child).</summary>
    private sealed class ByChildStrategy(ILoggingAdapter log) : OneForOneStrategy(_ => Directive.Stop)
    {
        protected override Directive Handle(IActorRef child, Exception error)
        {
            var directive = DirectiveFor(child.Path.Name);
            log.Error(error, "{0} failed ({1}); {2}", child.Path.Name, error.Message, directive switch
            {
                Directive.Resume => "resumed with its state",
                Directive.Restart => "restarted",
                _ => "stopped: the requests it held end with an error",
            });
            return directive;
        }
    }

    /// <summary>The directive for a failed child, by its name (see the class summary for why).</summary>
    public static Directive DirectiveFor(string child) => child switch
    {
        "llm-router" => Directive.Resume,
        "llm-transfer" or "llm-migrations" => Directive.Restart,
        _ => Directive.Stop, // schedulers and device actors (and anything new: stopping is the safe default)
    };
}
