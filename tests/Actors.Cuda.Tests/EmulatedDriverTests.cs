using System.Runtime.InteropServices;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>A fact that needs the CPU emulation of the driver and cuBLAS (tools/emulated-gpu-tests.sh), which can show what a real GPU hides.</summary>
public sealed class EmulatorFactAttribute : FactAttribute
{
    public EmulatorFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("ACTORS_EMU_KERNELS") == null)
            Skip = "needs the emulated driver (tools/emulated-gpu-tests.sh)";
    }
}

[Collection("gpu")]
public class EmulatedDriverTests
{
    /// <summary>The emulated cuBLAS counts GEMMs that ran on cuBLAS's own workspace pool (memory no stage plan counts).</summary>
    private static long GemmsOnDefaultWorkspace(CudaDevice device)
    {
        IntPtr lib = NativeLibrary.Load(device.Cublas!.LibraryName);
        return Marshal.GetDelegateForFunctionPointer<Counter>(NativeLibrary.GetExport(lib, "emu_cublas_gemms_on_default_workspace"))();
    }

    private delegate long Counter();

    [EmulatorFact]
    public void Every_step_gemm_uses_the_planned_cublas_workspace_although_the_stream_is_set_each_step()
    {
        using var model = LlamaModel.Open(SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec
        {
            Dim = 256, Layers = 1, Heads = 4, KvHeads = 2, Ffn = 512, Vocab = 320, WeightType = "F16", Seed = 3,
        }));
        var kv = new KvCacheSpec(16, 16, model.Config.HeadCountKv, model.Config.HeadDim, KvCacheType.F32);
        var device = TestEnvironment.Device;
        using var stage = device.LoadCudaStage(model, new LayerRange(0, 1), kv, maxBatchTokens: 32);
        Assert.True(stage.UsesCublas, device.CublasStatus);
        Assert.True(stage.MemoryPlan.CublasWorkspaceBytes > 0);
        long before = GemmsOnDefaultWorkspace(device);
        var rng = new Random(5);
        var prefill = Reference.Batch(rng, kv, newTokens: [20], contexts: [20], model.Config.VocabSize, reserve: [40]);
        var logits = new float[prefill.LogitCount * model.Config.VocabSize];
        stage.Forward(prefill, default, logits);
        var next = Reference.Continue(prefill, kv, [12], model.Config.VocabSize, rng);
        stage.Forward(next, default, new float[next.LogitCount * model.Config.VocabSize]);
        Assert.Equal(before, GemmsOnDefaultWorkspace(device));
    }
}
