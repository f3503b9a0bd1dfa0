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
    /// </summary>
    public static KvCacheSpec Size(KvCacheOptions options, RuntimeLayout layout, IReadOnlyList<IComputeDevice> devices, LlamaConfig c, int maxModelLength)
    {
        var spec = new KvCacheSpec(options.BlockSize, 1, c.HeadCountKv, c.HeadDim, options.Type);
        int blocks = options.NumBlocks;
        if (blocks == 0)
        {
            blocks = options.MaxBlocks;
            foreach (var stage in layout.AllStages)
            {
                var device = devices.First(d => d.Descriptor.Id == stage.DeviceId);
                int stagesOnDevice = layout.AllStages.Count(s => s.DeviceId == stage.DeviceId);
                double budget = device.Descriptor.MemoryBytes * options.MemoryFraction / stagesOnDevice;
                blocks = (int)Math.Min(blocks, budget / (spec.BlockBytesPerLayer * stage.Layers.Count));
            }
            int needed = (maxModelLength + options.BlockSize - 1) / options.BlockSize;
            if (blocks < needed)
                blocks = Math.Max(blocks, Math.Min(needed, options.MaxBlocks));
        }
        if (blocks <= 0)
            throw new InvalidConfigurationException($"actors-runtime.kv-cache: no KV block fits in memory-fraction {options.MemoryFraction} of the devices");
        return spec with { NumBlocks = blocks };
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
            if (needed > device.Descriptor.MemoryBytes)
                throw new InvalidConfigurationException(
                    $"the model does not fit on device {group.Key}: needs {Gb(needed)} ({string.Join("; ", parts)}, KV {kv.NumBlocks} blocks of {kv.BlockSize} tokens) " +
                    $"but the device has {Gb(device.Descriptor.MemoryBytes)}, short by {Gb(needed - device.Descriptor.MemoryBytes)}");
        }
    }

    private static string Gb(long bytes) => $"{bytes / 1e9:F2} GB";
}
