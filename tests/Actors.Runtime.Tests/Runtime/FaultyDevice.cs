using Actors.Inference.Compute;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>A CPU device whose stages throw when a batch contains the poison token: a device step that fails.</summary>
public sealed class FaultyDevice(string id, int poison) : DelegatingDevice(id)
{
    protected override void BeforeForward(StepBatch batch)
    {
        if (batch.Tokens.AsSpan(0, batch.TokenCount).Contains(poison)) throw new InvalidOperationException("simulated device fault");
    }
}
