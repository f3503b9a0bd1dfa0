namespace Actors.Simulation.Planning;

/// <summary>
/// How GPUs are used: <see cref="Replicas"/> independent copies of the model (data parallelism),
/// each a pipeline of <see cref="PipelineParallel"/> stages, each stage split over
/// <see cref="TensorParallel"/> GPUs. Devices are assigned in order: replica-major, then stage, then
/// TP rank, so TP groups land on NVLink pairs (0-1, 2-3) when there are pairs.
/// </summary>
public sealed record Layout(int TensorParallel, int PipelineParallel, int Replicas)
{
    public int GpusPerReplica => TensorParallel * PipelineParallel;
    public int GpusUsed => GpusPerReplica * Replicas;

    /// <summary>First device of stage <paramref name="stage"/> of replica <paramref name="replica"/>.</summary>
    public int FirstDevice(int replica, int stage) => replica * GpusPerReplica + stage * TensorParallel;

    public IReadOnlyList<int> TensorGroup(int replica, int stage)
        => Enumerable.Range(FirstDevice(replica, stage), TensorParallel).ToArray();

    public override string ToString() => $"tp{TensorParallel} pp{PipelineParallel} x{Replicas}";

    public static Layout Parse(string text)
    {
        int tp = 1, pp = 1, dp = 1;
        foreach (var part in text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.StartsWith("tp") && int.TryParse(part[2..], out int t)) tp = t;
            else if (part.StartsWith("pp") && int.TryParse(part[2..], out int p)) pp = p;
            else if (part.StartsWith('x') && int.TryParse(part[1..], out int r)) dp = r;
            else throw new FormatException($"layout '{text}': '{part}' should be tpN, ppN or xN");
        }
        if (tp < 1 || pp < 1 || dp < 1) throw new FormatException($"layout '{text}': degrees must be at least 1");
        return new Layout(tp, pp, dp);
    }
}
