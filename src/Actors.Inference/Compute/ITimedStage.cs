namespace Actors.Inference.Compute;

/// <summary>
/// A stage that knows how long its last <see cref="IStageExecutor.Forward"/> took in model time (a
/// simulated device's cost-model estimate), used instead of the wall clock when the runtime runs on
/// a virtual clock.
/// </summary>
public interface ITimedStage
{
    double LastStepSeconds { get; }
}
