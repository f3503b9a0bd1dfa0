#:project ../src/Actors.Cuda/Actors.Cuda.csproj
// Decode benchmark of the CUDA stage executor on a generated Llama-shaped model (random weights, so
// only speed means anything). Run: dotnet run tools/cuda-bench.cs -- [options]
//   --type Q4_K_M  --dim 4096  --layers 4  --ffn 11008  --heads 32  --kv-heads 8  --vocab 32000
//   --batches 1,4,8  --prompt 128  --steps 32
//   --probe 1      only print whether CUDA is usable (exit 0 if so, 2 if not)
//   --topology 1   only print the discovered GPU topology (peer access, NVLink, measured paths)
// Prints one row per batch size: prefill throughput, decode step time, tokens/s, and the weight
// bandwidth a decode step achieves against the device's peak (clock x bus width from the driver).
// The model file is cached under $ACTORS_CACHE (default ~/.cache/actors); generating a 4-layer
// 4096-wide model takes a minute or so on first use.
using System.Diagnostics;
using Actors.Cuda;
using Actors.Cuda.Topology;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Interop.Cuda;

var opts = new Dictionary<string, string>();
for (int i = 0; i + 1 < args.Length; i += 2) opts[args[i].TrimStart('-')] = args[i + 1];
string Opt(string name, string fallback) => opts.TryGetValue(name, out var v) ? v : fallback;
int IntOpt(string name, int fallback) => int.Parse(Opt(name, fallback.ToString()));

var availability = CudaAvailability.Probe();
if (opts.ContainsKey("probe") || !availability.IsAvailable)
{
    Console.WriteLine(availability.Message);
    return availability.IsAvailable ? 0 : 2;
}
if (opts.ContainsKey("topology"))
{
    Console.Write(CudaTopology.Discover().Format());
    return 0;
}

var spec = new SyntheticModelSpec
{
    Dim = IntOpt("dim", 4096), Layers = IntOpt("layers", 4), Ffn = IntOpt("ffn", 11008), Heads = IntOpt("heads", 32),
    KvHeads = IntOpt("kv-heads", 8), Vocab = IntOpt("vocab", 32000), Context = 4096, WeightType = Opt("type", "Q4_K_M"),
};
int[] batches = Opt("batches", "1,4,8").Split(',').Select(int.Parse).ToArray();
int prompt = IntOpt("prompt", 128), steps = IntOpt("steps", 32);

var sw = Stopwatch.StartNew();
string path = SyntheticModelGenerator.EnsureCached(spec);
Console.WriteLine($"model {Path.GetFileName(path)} ready in {sw.Elapsed.TotalSeconds:0.0} s");
using var model = LlamaModel.Open(path);
using var device = CudaDevice.Create(0);
Console.WriteLine(device);

int maxBatch = batches.Max();
int blockSize = 16, blocksPerSeq = (prompt + steps + blockSize - 1) / blockSize;
var kv = new KvCacheSpec(blockSize, blocksPerSeq * maxBatch, model.Config.HeadCountKv, model.Config.HeadDim, KvCacheType.F16);
sw.Restart();
using var stage = device.LoadCudaStage(model, new LayerRange(0, model.Config.BlockCount), kv, Math.Max(prompt * maxBatch, maxBatch));
Console.WriteLine($"stage loaded in {sw.Elapsed.TotalSeconds:0.0} s: {stage.MemoryPlan.Describe()}; cuBLAS: {device.CublasStatus}");

long weightBytes = stage.MemoryPlan.WeightBytes - model.TokenEmbedding.ByteSize; // a step reads every matrix but the embedding table
double peak = device.Info.PeakMemoryBandwidthBytesPerSecond;
var rows = new List<string>();
var rng = new Random(1);
foreach (int b in batches)
{
    // Prefill b prompts in one step, then decode one token per sequence per step.
    var batch = new StepBatch();
    batch.EnsureCapacity(b * prompt, b, blocksPerSeq);
    for (int s = 0; s < b; s++)
        for (int j = 0; j < blocksPerSeq; j++) batch.BlockTables[s * blocksPerSeq + j] = s * blocksPerSeq + j;
    void Fill(int tokensPerSeq, int contextBefore)
    {
        int t = 0;
        for (int s = 0; s < b; s++)
        {
            batch.QueryStart[s] = t;
            batch.ContextLength[s] = contextBefore + tokensPerSeq;
            for (int i = 0; i < tokensPerSeq; i++, t++)
            {
                int pos = contextBefore + i;
                batch.Tokens[t] = rng.Next(spec.Vocab);
                batch.Positions[t] = pos;
                batch.Slots[t] = batch.BlockTables[s * blocksPerSeq + pos / blockSize] * blockSize + pos % blockSize;
            }
            batch.LogitTokens[s] = t - 1;
        }
        batch.QueryStart[b] = t;
        batch.TokenCount = t;
        batch.SequenceCount = b;
        batch.LogitCount = b;
    }
    var logits = new float[b * spec.Vocab];
    Fill(prompt, 0);
    stage.Forward(batch, default, logits); // warm-up (also fills the KV cache)
    Fill(prompt, 0);
    sw.Restart();
    stage.Forward(batch, default, logits);
    double prefillSeconds = sw.Elapsed.TotalSeconds;
    var times = new List<double>();
    for (int step = 0; step < steps; step++)
    {
        Fill(1, prompt + step);
        sw.Restart();
        stage.Forward(batch, default, logits);
        times.Add(sw.Elapsed.TotalSeconds);
    }
    times.Sort();
    double median = times[times.Count / 2];
    rows.Add($"| {b,5} | {b * prompt / prefillSeconds,13:0} | {median * 1e3,7:0.00} | {b / median,7:0.0} | {weightBytes / median / 1e9,11:0.0} | {100 * weightBytes / median / peak,6:0}% |");
}

Console.WriteLine();
Console.WriteLine($"decode benchmark: {spec.WeightType}, dim {spec.Dim}, {spec.Layers} layers, ffn {spec.Ffn}, vocab {spec.Vocab}, prompt {prompt}, {steps} steps, {device.Info.Name}");
Console.WriteLine("| batch | prefill tok/s | step ms |   tok/s | weight GB/s | of peak |");
Console.WriteLine("|------:|--------------:|--------:|--------:|------------:|--------:|");
foreach (var row in rows) Console.WriteLine(row);
return 0;
