using Actors.Cuda.Topology;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>The CUDA stage executor against the plain reference forward pass, step after step.</summary>
[Collection("gpu")]
public partial class GpuStageTests
{
    private static LlamaModel Model(string type, int layers = 2) => LlamaModel.Open(SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec
    {
        Dim = 256, Layers = layers, Heads = 4, KvHeads = 2, Ffn = 512, Vocab = 320, WeightType = type, Seed = 7,
    }));

    private static double MaxAbs(float[] v) => v.Length == 0 ? 0 : v.Max(x => Math.Abs((double)x));

    /// <summary>Logits agree to a fraction of their scale (GEMM steps carry f16 activations).</summary>
    private static void AssertLogits(float[] expected, float[] actual, double fraction, string what)
    {
        double scale = Math.Max(1, MaxAbs(expected));
        Reference.AssertClose(expected, actual, fraction * scale, 0, what);
    }

    public static TheoryData<string, KvCacheType> ModelCases() => new()
    {
        { "F32", KvCacheType.F32 },
        { "F16", KvCacheType.F32 },
        { "BF16", KvCacheType.F32 },
        { "Q8_0", KvCacheType.F32 },
        { "Q4_0", KvCacheType.F16 },
        { "Q4_K_M", KvCacheType.F32 },
        { "Q4_K_M", KvCacheType.F16 },
    };

    /// <summary>
    /// Step 1 prefills two prompts (25 tokens: cuBLAS when available), step 2 decodes both (matvec),
    /// step 3 decodes one and prefills a chunk of the other; logits match the reference each time.
    /// </summary>
    [GpuTheory]
    [MemberData(nameof(ModelCases))]
    public void Stage_logits_match_the_reference_through_prefill_and_decode(string weights, KvCacheType cache)
    {
        using var model = Model(weights);
        var kv = new KvCacheSpec(16, 32, model.Config.HeadCountKv, model.Config.HeadDim, cache);
        var device = TestEnvironment.Device;
        TestEnvironment.RequireCublasUnlessAllowed(device);
        using var stage = device.LoadCudaStage(model, new LayerRange(0, model.Config.BlockCount), kv, maxBatchTokens: 64);
        var reference = new ReferenceLlama(model, kv);
        var rng = new Random(11);
        int vocab = model.Config.VocabSize;
        double gemmTolerance = stage.UsesCublas ? 2e-2 : 1e-4;

        var prefill = Reference.Batch(rng, kv, newTokens: [20, 5], contexts: [20, 5], vocab, reserve: [40, 40]);
        var logits = new float[prefill.LogitCount * vocab];
        stage.Forward(prefill, default, logits);
        AssertLogits(reference.Forward(prefill), logits, gemmTolerance, $"{weights} prefill");

        var decode = Reference.Continue(prefill, kv, [1, 1], vocab, rng);
        logits = new float[decode.LogitCount * vocab];
        stage.Forward(decode, default, logits);
        AssertLogits(reference.Forward(decode), logits, gemmTolerance, $"{weights} decode"); // its KV came from the prefill step

        var mixed = Reference.Continue(decode, kv, [1, 12], vocab, rng);
        logits = new float[mixed.LogitCount * vocab];
        stage.Forward(mixed, default, logits);
        AssertLogits(reference.Forward(mixed), logits, gemmTolerance, $"{weights} mixed");
    }

    [GpuFact]
    public void Two_stages_passing_hidden_states_equal_one_stage()
    {
        using var model = Model("Q8_0", layers: 3);
        var kv = new KvCacheSpec(16, 16, model.Config.HeadCountKv, model.Config.HeadDim);
        var device = TestEnvironment.Device;
        using var whole = device.LoadCudaStage(model, new LayerRange(0, 3), kv, 32);
        using var first = device.LoadCudaStage(model, new LayerRange(0, 1), kv, 32);
        using var last = device.LoadCudaStage(model, new LayerRange(1, 3), kv, 32);
        Assert.True(first.IsFirst && !first.IsLast && !last.IsFirst && last.IsLast);
        var batch = Reference.Batch(new Random(5), kv, [3, 1], [3, 1], model.Config.VocabSize);
        var expected = new float[batch.LogitCount * model.Config.VocabSize];
        whole.Forward(batch, default, expected);
        var hidden = new float[((IStageExecutor)first).OutputLength(batch)];
        Assert.Equal(batch.TokenCount * model.Config.EmbeddingLength, hidden.Length);
        first.Forward(batch, default, hidden);
        var actual = new float[expected.Length];
        last.Forward(batch, hidden, actual);
        Reference.AssertClose(expected, actual, 1e-5, 1e-5, "split stages");
    }

    [GpuFact]
    public void Device_top_k_agrees_with_the_host_logits()
    {
        using var model = Model("Q4_K_M");
        var kv = new KvCacheSpec(16, 16, model.Config.HeadCountKv, model.Config.HeadDim);
        using var stage = TestEnvironment.Device.LoadCudaStage(model, new LayerRange(0, 2), kv, 16);
        int vocab = model.Config.VocabSize;
        var batch = Reference.Batch(new Random(9), kv, [4, 1, 2], [4, 1, 2], vocab);
        var logits = new float[batch.LogitCount * vocab];
        stage.Forward(batch, default, logits);
        // Same tokens at the same slots again: the recomputed logits are identical.
        const int k = 5;
        var indices = new int[batch.LogitCount * k];
        var values = new float[batch.LogitCount * k];
        stage.ForwardTopK(batch, default, k, indices, values);
        for (int r = 0; r < batch.LogitCount; r++)
        {
            var row = logits.AsSpan(r * vocab, vocab);
            Assert.Equal(Reference.TopK(row, k), indices.AsSpan(r * k, k).ToArray());
            for (int i = 0; i < k; i++) Assert.Equal(row[indices[r * k + i]], values[r * k + i]);
        }
    }

    /// <summary>
    /// A partly-NaN logit row (one NaN head weight, <see cref="NanHeadModel"/>) gets the same top-k from the CUDA stage
    /// as from the CPU stage: its NaN token in every slot, so the runtime rejects the sequence with the same error on
    /// either backend instead of a token on the GPU and an error on the CPU.
    /// </summary>
    [GpuFact]
    public void Cuda_and_cpu_stages_report_a_partly_NaN_logit_row_alike_from_their_top_k()
    {
        using var m = new NanHeadModel(seed: 17);
        var c = m.Model.Config;
        var kv = new KvCacheSpec(16, 8, c.HeadCountKv, c.HeadDim);
        using var cpuDevice = new Actors.Inference.Cpu.CpuDevice(threads: 1);
        using var cpu = cpuDevice.LoadStage(m.Model, new LayerRange(0, c.BlockCount), kv, maxBatchTokens: 16);
        using var cuda = TestEnvironment.Device.LoadCudaStage(m.Model, new LayerRange(0, c.BlockCount), kv, 16);
        int vocab = c.VocabSize;
        var batch = PartlyNanLogitsTests.Batch(kv, vocab);
        var logits = new float[batch.LogitCount * vocab];
        cuda.Forward(batch, default, logits);
        for (int r = 0; r < batch.LogitCount; r++)
        {
            Assert.True(float.IsNaN(logits[r * vocab + m.NanToken]), $"row {r}: the CUDA logit of token {m.NanToken} is not NaN");
            Assert.Equal(vocab - 1, PartlyNanLogitsTests.CountWhere(logits.AsSpan(r * vocab, vocab), float.IsFinite));
        }
        foreach (int k in new[] { 1, 5 })
        {
            var (cudaIds, cudaValues) = (new int[batch.LogitCount * k], new float[batch.LogitCount * k]);
            var (cpuIds, cpuValues) = (new int[batch.LogitCount * k], new float[batch.LogitCount * k]);
            cuda.ForwardTopK(batch, default, k, cudaIds, cudaValues);
            cpu.ForwardTopK(batch, default, k, cpuIds, cpuValues);
            TopKRows.AssertSameAsCpu(logits, vocab, k, cudaIds, cudaValues, "CUDA stage");
            Assert.Equal(cpuIds, cudaIds);
            Assert.All(cudaIds, i => Assert.Equal(m.NanToken, i));
            Assert.All(cpuValues.Concat(cudaValues), v => Assert.True(float.IsNaN(v)));
        }
    }

    /// <summary>
    /// What the runtime asks of a last CUDA stage for a greedy step (k = 1, several sequences, prefill and decode
    /// rows): the sampler's greedy pick over the stage's own logits; a middle stage offers no top-k.
    /// </summary>
    [GpuFact]
    public void Device_argmax_is_the_greedy_samplers_pick_over_the_stages_logits()
    {
        using var model = Model("Q8_0");
        var kv = new KvCacheSpec(16, 16, model.Config.HeadCountKv, model.Config.HeadDim);
        var device = TestEnvironment.Device;
        using var first = device.LoadCudaStage(model, new LayerRange(0, 1), kv, 32);
        using var last = device.LoadCudaStage(model, new LayerRange(1, 2), kv, 32);
        Assert.Equal(0, ((IStageExecutor)first).MaxLogitTopK);
        Assert.True(((IStageExecutor)last).MaxLogitTopK >= 1);
        int vocab = model.Config.VocabSize;
        var batch = Reference.Batch(new Random(12), kv, [6, 1, 1, 3], [6, 9, 4, 3], vocab, allLogits: true);
        var hidden = new float[batch.TokenCount * model.Config.EmbeddingLength];
        first.Forward(batch, default, hidden);
        var logits = new float[batch.LogitCount * vocab];
        last.Forward(batch, hidden, logits);
        var indices = new int[batch.LogitCount];
        var values = new float[batch.LogitCount];
        last.ForwardTopK(batch, hidden, 1, indices, values);
        var greedy = new Actors.Inference.Sampling.Sampler(Actors.Inference.Sampling.SamplingParameters.Greedy, vocab);
        for (int r = 0; r < batch.LogitCount; r++)
        {
            Assert.Equal(greedy.Sample(logits.AsSpan(r * vocab, vocab), []), indices[r]);
            Assert.Equal(logits[r * vocab + indices[r]], values[r]);
        }
    }

    [GpuFact]
    public void Kv_blocks_round_trip_through_host_memory_and_copy_on_device()
    {
        using var model = Model("F16");
        var kv = new KvCacheSpec(16, 8, model.Config.HeadCountKv, model.Config.HeadDim, KvCacheType.F16);
        using var stage = TestEnvironment.Device.LoadCudaStage(model, new LayerRange(0, 2), kv, 16);
        var batch = Reference.Batch(new Random(2), kv, [16], [16], model.Config.VocabSize);
        stage.Forward(batch, default, new float[batch.LogitCount * model.Config.VocabSize]);
        int written = batch.BlockTables[0];
        int other = (written + 1) % kv.NumBlocks, third = (written + 2) % kv.NumBlocks;

        var bytes = new byte[stage.KvBlockBytes];
        Assert.Equal(2 * kv.BlockBytesPerLayer, stage.KvBlockBytes);
        stage.ReadKvBlock(written, bytes);
        Assert.Contains(bytes, b => b != 0);
        stage.WriteKvBlock(other, bytes);
        var back = new byte[stage.KvBlockBytes];
        stage.ReadKvBlock(other, back);
        Assert.Equal(bytes, back);
        stage.CopyKvBlock(written, third);
        stage.ReadKvBlock(third, back);
        Assert.Equal(bytes, back);
        Assert.Contains("outside the pool", Assert.Throws<ArgumentOutOfRangeException>(() => stage.ReadKvBlock(kv.NumBlocks, bytes)).Message);
    }

    [GpuFact]
    public void Loading_more_than_fits_names_what_is_needed_and_what_is_free()
    {
        using var model = Model("Q8_0");
        var device = TestEnvironment.Device;
        long blockBytes = new KvCacheSpec(16, 1, model.Config.HeadCountKv, model.Config.HeadDim).BlockBytesPerLayer * 2;
        int blocks = (int)Math.Min(int.MaxValue, device.Info.TotalMemoryBytes / blockBytes + 1024);
        var kv = new KvCacheSpec(16, blocks, model.Config.HeadCountKv, model.Config.HeadDim);
        var e = Assert.Throws<CudaOutOfMemoryException>(() => device.LoadCudaStage(model, new LayerRange(0, 2), kv, 8));
        Assert.Contains("needs", e.Message);
        Assert.Contains("free", e.Message);
        Assert.Contains("KV cache", e.Message);
        Assert.True(e.NeededBytes > e.FreeBytes);
    }

    [GpuFact]
    public void Batches_beyond_the_loaded_size_are_refused_with_the_numbers()
    {
        using var model = Model("F32");
        var kv = new KvCacheSpec(16, 8, model.Config.HeadCountKv, model.Config.HeadDim);
        using var stage = TestEnvironment.Device.LoadCudaStage(model, new LayerRange(0, 2), kv, 4);
        var batch = Reference.Batch(new Random(1), kv, [5], [5], model.Config.VocabSize);
        var e = Assert.Throws<ArgumentException>(() => stage.Forward(batch, default, new float[model.Config.VocabSize]));
        Assert.Contains("5 tokens", e.Message);
        Assert.Contains("4", e.Message);
    }

    [GpuFact]
    public void Device_describes_itself()
    {
        var device = TestEnvironment.Device;
        Assert.Equal(DeviceKind.Cuda, device.Descriptor.Kind);
        Assert.Equal("cuda:0", device.Descriptor.Id);
        Assert.True(device.Descriptor.MemoryBytes > 0);
        Assert.True(device.Target.IsCubin || device.Target.Architecture.StartsWith("compute_"));
        Assert.Contains(device.Target.Architecture, device.ToString());
    }

    [GpuFact]
    public void Topology_lists_every_device_and_verifies_each_pair()
    {
        var topology = CudaTopology.Discover(new CudaTopologyOptions { CopyBytes = 8L << 20, PingIterations = 5, CopyIterations = 2 });
        Assert.True(topology.IsAvailable);
        Assert.Equal(TestEnvironment.Cuda.DeviceCount, topology.Devices.Count);
        Assert.Equal(topology.Devices.Count * (topology.Devices.Count - 1), topology.Links.Count);
        foreach (var link in topology.Links)
        {
            Assert.True(!link.PeerVerified || link.CanAccessPeer);
            Assert.True(link.Path == TransferPath.HostStaged || link.PeerVerified);
            Assert.NotNull(link.Measured);
            Assert.True(link.Measured!.BandwidthGBps > 0);
        }
        Assert.Contains(topology.Devices[0].Name, topology.Format());
    }
}
