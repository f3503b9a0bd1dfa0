using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Runtime.Configuration;

namespace Actors.Runtime.Layout;

/// <summary>How many KV blocks each stage's pool gets, and whether everything fits the devices.</summary>
public static class KvSizing
{
    /// <summary>
    /// The configured block count, or, with num-blocks = 0, the largest count every stage of every
    /// replica can hold within memory-fraction of its device (all stages of a replica share block ids).
    /// <para>For a model with sliding-window layers (and kv-cache.sliding-window-pool on, every device able
    /// to), those layers get a pool of their own: per sequence at <paramref name="maxModelLength"/> a
    /// full-attention layer needs ceil(length / block) blocks and a sliding one only
    /// <see cref="LayerAttention.KvBlocksNeeded"/> (about a window), so the sliding pool gets that fraction
    /// of the main pool's blocks and the bytes saved go to more main blocks. It never holds fewer blocks than
    /// one sequence needs at once: the window plus a prefill chunk of <paramref name="maxChunkTokens"/>.</para>
    /// </summary>
    public static KvCacheSpec Size(KvCacheOptions options, RuntimeLayout layout, IReadOnlyList<IComputeDevice> devices, LlamaConfig c, int maxModelLength,
        int maxChunkTokens = 0)
    {
        var spec = new KvCacheSpec(options.BlockSize, 1, c.HeadCountKv, c.HeadDim, options.Type);
        var split = SlidingSplit(options, layout, devices, c, maxModelLength);
        int blocks = options.NumBlocks;
        if (blocks == 0)
        {
            blocks = options.MaxBlocks;
            foreach (var stage in layout.AllStages)
            {
                var device = devices.First(d => d.Descriptor.Id == stage.DeviceId);
                int stagesOnDevice = layout.AllStages.Count(s => s.DeviceId == stage.DeviceId);
                double budget = device.Descriptor.MemoryBytes * options.MemoryFraction / stagesOnDevice;
                // Layer-blocks one main block brings with it: each full layer's, and a sliding layer's share of the sliding pool.
                double layersPerBlock = split is { } r
                    ? FullLayers(c, stage.Layers) + (stage.Layers.Count - FullLayers(c, stage.Layers)) * r.SlidingPerSequence / (double)r.FullPerSequence
                    : stage.Layers.Count;
                blocks = (int)Math.Min(blocks, budget / (spec.BlockBytesPerLayer * layersPerBlock));
            }
            int needed = (maxModelLength + options.BlockSize - 1) / options.BlockSize;
            if (blocks < needed)
                blocks = Math.Max(blocks, Math.Min(needed, options.MaxBlocks));
        }
        if (blocks <= 0)
            throw new InvalidConfigurationException($"actors-runtime.kv-cache: no KV block fits in memory-fraction {options.MemoryFraction} of the devices");
        spec = spec with { NumBlocks = blocks };
        if (split is not { } s) return spec;

        int sliding = (int)Math.Ceiling((double)blocks * s.SlidingPerSequence / s.FullPerSequence);
        // One sequence must be able to run alone: its window plus the largest prefill chunk at once.
        int chunk = maxChunkTokens > 0 ? Math.Min(maxChunkTokens, maxModelLength) : maxModelLength;
        int peak = Math.Min(s.FullPerSequence, (c.SlidingWindow - 1 + chunk + options.BlockSize - 1) / options.BlockSize + 1);
        sliding = Math.Min(blocks, Math.Max(sliding, peak));
        return spec with { SlidingNumBlocks = sliding };
    }

    /// <summary>
    /// Blocks per sequence at the maximum length in a full-attention layer and in a sliding one, when the
    /// sliding layers get a pool of their own; null when they do not (no such layers, the option is off, a
    /// device cannot, or the window covers the whole length so nothing would be saved).
    /// </summary>
    private static (int FullPerSequence, int SlidingPerSequence)? SlidingSplit(KvCacheOptions options, RuntimeLayout layout,
        IReadOnlyList<IComputeDevice> devices, LlamaConfig c, int maxModelLength)
    {
        if (!options.SlidingWindowPool || c.SlidingWindow <= 0) return null;
        if (!Enumerable.Range(0, c.BlockCount).Any(c.IsSlidingLayer)) return null;
        if (layout.AllStages.Any(st => !devices.First(d => d.Descriptor.Id == st.DeviceId).SupportsSlidingWindowPool)) return null;
        var global = c.LayerAttentions.First(a => !a.IsSliding);
        var local = c.LayerAttentions.First(a => a.IsSliding);
        int full = global.KvBlocksNeeded(maxModelLength, options.BlockSize);
        int slidingBlocks = local.KvBlocksNeeded(maxModelLength, options.BlockSize);
        return slidingBlocks < full ? (full, slidingBlocks) : null;
    }

    private static int FullLayers(LlamaConfig c, LayerRange layers)
    {
        int n = 0;
        for (int l = layers.Start; l < layers.End; l++) if (!c.IsSlidingLayer(l)) n++;
        return n;
    }

    /// <summary>Every stage's weights, KV pool and scratch within its device's memory; otherwise an error with the numbers.</summary>
    public static void CheckFit(LlamaModel model, RuntimeLayout layout, IReadOnlyList<IComputeDevice> devices, KvCacheSpec kv, int maxBatchTokens)
    {
        foreach (var group in layout.AllStages.GroupBy(s => s.DeviceId))
        {
            var device = devices.First(d => d.Descriptor.Id == group.Key);
            long needed = 0;
            var parts = new List<string>();
            foreach (var stage in group)
            {
                long bytes = device.EstimateStageBytes(model, stage.Layers, kv, maxBatchTokens);
                needed += bytes;
                parts.Add($"replica {stage.Replica} stage {stage.Stage} ({stage.Layers}): {Gb(bytes)}");
            }
            string pools = kv.HasSlidingPool ? $"KV {kv.NumBlocks} blocks + {kv.SlidingNumBlocks} sliding-window blocks" : $"KV {kv.NumBlocks} blocks";
            if (needed > device.Descriptor.MemoryBytes)
                throw new InvalidConfigurationException(
                    $"the model does not fit on device {group.Key}: needs {Gb(needed)} ({string.Join("; ", parts)}, {pools} of {kv.BlockSize} tokens) " +
                    $"but the device has {Gb(device.Descriptor.MemoryBytes)}, short by {Gb(needed - device.Descriptor.MemoryBytes)}");
        }
    }

    private static string Gb(long bytes) => $"{bytes / 1e9:F2} GB";
}
