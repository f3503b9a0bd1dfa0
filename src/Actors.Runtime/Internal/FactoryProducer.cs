using Akka.Actor;

namespace Actors.Runtime.Internal;

/// <summary>
/// Props from a plain delegate. <c>Props.Create(() => new T(...))</c> walks the expression tree and
/// compiles each argument (Expression.Compile) on every spawn, then constructs by reflection: per
/// request that is tens of microseconds, and on a fresh process's first request milliseconds of JIT
/// inside its time to first token (docs/benchmarks.md, "Fresh-process TTFT").
/// </summary>
internal sealed class FactoryProducer<T>(Func<T> create) : IIndirectActorProducer where T : ActorBase
{
    public Type ActorType => typeof(T);

    public ActorBase Produce() => create();

    public void Release(ActorBase actor) { }

    public static Props Props(Func<T> create) => Akka.Actor.Props.CreateBy(new FactoryProducer<T>(create));
}
