namespace Actors.Runtime.Protocol;

/// <summary>Thrown to a stream or enumerable consumer whose request was not admitted.</summary>
public sealed class GenerationRejectedException(GenerationRejected rejected) : Exception($"{rejected.Reason}: {rejected.Message}")
{
    public GenerationRejected Rejected { get; } = rejected;
}
