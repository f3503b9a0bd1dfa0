using System.Diagnostics;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;

namespace Actors.Cli.Validate;

/// <summary>
/// Times real steps of the CPU backend: the whole model as one stage (<see cref="CpuStageExecutor"/> on
/// a <see cref="CpuDevice"/>'s threads), fed a prepared <see cref="StepBatch"/>. A step's time is the
/// best of several repetitions after a warm-up, the least disturbed by other work on the machine.
/// </summary>
public sealed class CpuStepTimer : IDisposable
{
    private readonly CpuDevice _device;
    private readonly IStageExecutor _stage;
    private readonly LlamaModel _model;
    private float[] _output = [];

    public KvCacheSpec Kv { get; }

    public CpuStepTimer(LlamaModel model, int threads, int kvBlocks, int maxBatchTokens)
    {
        _model = model;
        _device = new CpuDevice("cpu:validate", threads);
        Kv = new KvCacheSpec(16, kvBlocks, model.Config.HeadCountKv, model.Config.HeadDim);
        _stage = _device.LoadStage(model, new LayerRange(0, model.Config.BlockCount), Kv, maxBatchTokens);
    }

    /// <summary>
    /// Best wall time of one step, seconds. Warms up first for at least <paramref name="warmupSeconds"/>
    /// (and three steps): .NET compiles hot methods again with full optimisation after their first
    /// calls, so early steps run slower code. Then at least <paramref name="minRepetitions"/> timed
    /// steps and about <paramref name="budgetSeconds"/>.
    /// </summary>
    public double Time(StepBatch batch, int minRepetitions = 5, double budgetSeconds = 1, double warmupSeconds = 0.5)
    {
        int need = _stage.OutputLength(batch);
        if (_output.Length < need) _output = new float[need];
        double warm = 0;
        for (int r = 0; r < 3 || warm < warmupSeconds; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            _stage.Forward(batch, ReadOnlySpan<float>.Empty, _output);
            warm += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (r >= 1000) break;
        }
        double best = double.MaxValue, spent = 0;
        for (int r = 0; r < minRepetitions || spent < budgetSeconds; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            _stage.Forward(batch, ReadOnlySpan<float>.Empty, _output);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Min(best, s);
            spent += s;
            if (r >= 1000) break;
        }
        return best;
    }

    public void Dispose()
    {
        _stage.Dispose();
        _device.Dispose();
        _model.Dispose();
    }
}
