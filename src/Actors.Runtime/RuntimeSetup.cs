using System.Diagnostics.Metrics;
using Akka.Actor.Setup;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Runtime.Configuration;

namespace Actors.Runtime;

/// <summary>Creates the compute device for one configured device entry (CUDA, simulated, ...).</summary>
public delegate IComputeDevice DeviceFactory(DeviceOptions options);

/// <summary>
/// What the runtime needs that HOCON cannot carry: device factories for kinds other than CPU, an
/// already opened model, a meter factory for metrics. Passed as an Akka <see cref="Setup"/>.
/// </summary>
public sealed class RuntimeSetup : Setup
{
    public IReadOnlyDictionary<DeviceKind, DeviceFactory> DeviceFactories { get; init; } = new Dictionary<DeviceKind, DeviceFactory>();
    /// <summary>A model to serve instead of opening actors-runtime.model.path (the runtime does not dispose it).</summary>
    public LlamaModel? Model { get; init; }
    public IMeterFactory? MeterFactory { get; init; }
    /// <summary>The tokenizer to use when the model has no GGUF file (a shape-only model for simulation).</summary>
    public Actors.Inference.Tokenization.Tokenizer? Tokenizer { get; init; }
    /// <summary>Copy engines per path kind, replacing the host-memory copy (e.g. a DMA or network engine).</summary>
    public IReadOnlyDictionary<Transfer.PathKind, Transfer.ICopyEngine> CopyEngines { get; init; } = new Dictionary<Transfer.PathKind, Transfer.ICopyEngine>();
    /// <summary>How long start-up may wait for every stage to load.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
