using Akka.Actor;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Internal;

/// <summary>
/// Starts one <see cref="MigrationActor"/> per sequence a scheduler exports and supervises them
/// (default strategy, as under the transfer actor before). Schedulers decide and export; the
/// transfer actor only routes activations and accounts copies; this actor owns the migrations in between.
/// </summary>
internal sealed class MigrationCoordinator(Topology topology) : UntypedActor
{
    public static Props Props(Topology topology) => Akka.Actor.Props.Create(() => new MigrationCoordinator(topology));

    protected override void OnReceive(object message)
    {
        if (message is StartMigration m) Context.ActorOf(MigrationActor.Props(m.Plan, topology));
        else Unhandled(message);
    }
}
