using System.Globalization;
using System.Text;

namespace Actors.Runtime.Hosting;

/// <summary>
/// Options for <see cref="LlmRuntimeHostingExtensions.WithLlmRuntime"/>. Every property is optional:
/// only those set are rendered to HOCON (prepended over the user's config); the rest keep the
/// defaults of the embedded reference.conf.
/// </summary>
public sealed class LlmRuntimeOptions
{
    public string? ModelPath { get; set; }
    public int? MaxBatchedTokens { get; set; }
    public int? MaxRunningSequences { get; set; }
    public int? MaxWaiting { get; set; }
    public bool? ChunkedPrefill { get; set; }
    public bool? PrefixCaching { get; set; }
    public int? KvBlockSize { get; set; }
    public int? KvBlocks { get; set; }
    public int? Replicas { get; set; }
    public int? Pipeline { get; set; }
    /// <summary>Number of CPU devices to declare (cpu:0..cpu:N-1), each with <see cref="ThreadsPerDevice"/> threads.</summary>
    public int? CpuDevices { get; set; }
    public int? ThreadsPerDevice { get; set; }
    /// <summary>Number of CUDA GPUs to declare (cuda:0..cuda:N-1, CUDA's ordinals), opened by the runtime's built-in CUDA backend.</summary>
    public int? CudaDevices { get; set; }
    /// <summary>Run a CUDA device's stages on the CPU when it cannot be opened (actors-runtime.cuda-fallback = cpu) rather than stop.</summary>
    public bool? CudaFallbackToCpu { get; set; }

    public string ToHocon()
    {
        var sb = new StringBuilder();
        void Line(string key, object? value)
        {
            if (value is null) return;
            string v = value switch
            {
                string s => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"",
                bool b => b ? "on" : "off",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString()!,
            };
            sb.Append("actors-runtime.").Append(key).Append(" = ").AppendLine(v);
        }
        Line("model.path", ModelPath);
        Line("scheduler.max-batched-tokens", MaxBatchedTokens);
        Line("scheduler.max-running-sequences", MaxRunningSequences);
        Line("scheduler.max-waiting", MaxWaiting);
        Line("scheduler.chunked-prefill", ChunkedPrefill);
        Line("scheduler.prefix-caching", PrefixCaching);
        Line("kv-cache.block-size", KvBlockSize);
        Line("kv-cache.num-blocks", KvBlocks);
        Line("layout.replicas", Replicas);
        Line("layout.pipeline", Pipeline);
        if (CpuDevices is not null || CudaDevices is not null)
        {
            var devices = Enumerable.Range(0, CpuDevices ?? 0).Select(i => $"{{ id = \"cpu:{i}\", kind = cpu, threads = {ThreadsPerDevice ?? 0} }}")
                .Concat(Enumerable.Range(0, CudaDevices ?? 0).Select(i => $"{{ id = \"cuda:{i}\", kind = cuda }}"));
            sb.Append("actors-runtime.devices = [ ").Append(string.Join(", ", devices)).AppendLine(" ]");
        }
        if (CudaFallbackToCpu is bool fallback) sb.Append("actors-runtime.cuda-fallback = ").AppendLine(fallback ? "cpu" : "stop");
        return sb.ToString();
    }
}
