using Actors.Inference.Compute;
using Actors.Runtime.Configuration;

namespace Actors.Runtime.Layout;

/// <summary>
/// Turns the layout options into placements: every layer of every replica covered exactly once,
/// every device known, stages split by layer memory in proportion to device memory when not
/// given explicitly. Pure: the errors name the stage, the device and the numbers.
/// </summary>
public static class LayoutPlanner
{
    public static RuntimeLayout Plan(LayoutOptions options, IReadOnlyList<DeviceCapacity> devices, LayerCosts costs)
    {
        if (devices.Count == 0) throw new InvalidConfigurationException("no devices are configured");
        return options.Stages.Count > 0 ? Explicit(options, devices, costs) : Automatic(options, devices, costs);
    }

    private static RuntimeLayout Automatic(LayoutOptions options, IReadOnlyList<DeviceCapacity> devices, LayerCosts costs)
    {
        int r = options.Replicas, p = options.Pipeline;
        if (p > costs.LayerCount)
            throw new InvalidConfigurationException($"actors-runtime.layout.pipeline = {p} exceeds the model's {costs.LayerCount} layers");
        if (devices.Count < r * p && devices.Count != 1)
            throw new InvalidConfigurationException(
                $"layout of {r} replica(s) x {p} stage(s) needs {r * p} devices (or a single shared one), but {devices.Count} are configured: {string.Join(", ", devices.Select(d => d.Id))}");
        var replicas = new List<IReadOnlyList<StagePlacement>>();
        for (int rep = 0; rep < r; rep++)
        {
            var stageDevices = Enumerable.Range(0, p).Select(s => devices[devices.Count == 1 ? 0 : rep * p + s]).ToList();
            var ranges = Split(costs, stageDevices.Select(d => (double)d.MemoryBytes).ToList());
            replicas.Add(ranges.Select((range, s) => new StagePlacement(rep, s, stageDevices[s].Id, range)).ToList());
        }
        return new RuntimeLayout(replicas);
    }

    private static RuntimeLayout Explicit(LayoutOptions options, IReadOnlyList<DeviceCapacity> devices, LayerCosts costs)
    {
        var known = devices.ToDictionary(d => d.Id);
        var replicas = new List<IReadOnlyList<StagePlacement>>();
        foreach (var group in options.Stages.GroupBy(s => s.Replica).OrderBy(g => g.Key))
        {
            int replica = group.Key;
            if (replica != replicas.Count)
                throw new InvalidConfigurationException($"layout.stages: replica {replicas.Count} has no stages but replica {replica} does; number replicas from 0 without gaps");
            var list = group.ToList();
            foreach (var s in list)
                if (!known.ContainsKey(s.Device))
                    throw new InvalidConfigurationException($"layout.stages: replica {replica} names unknown device \"{s.Device}\" (known: {string.Join(", ", known.Keys)})");
            List<LayerRange> ranges;
            if (list.All(s => s.Layers is null))
                ranges = Split(costs, list.Select(s => (double)known[s.Device].MemoryBytes).ToList());
            else if (list.Any(s => s.Layers is null))
                throw new InvalidConfigurationException($"layout.stages: replica {replica} gives layers for some stages but not all; give them for every stage or for none");
            else
            {
                ranges = list.Select(s => s.Layers!.Value).ToList();
                CheckCoverage(replica, ranges, costs.LayerCount);
            }
            replicas.Add(list.Select((s, i) => new StagePlacement(replica, i, s.Device, ranges[i])).ToList());
        }
        return new RuntimeLayout(replicas);
    }

    /// <summary>Every layer exactly once, in order: the error names the stage and the layers.</summary>
    public static void CheckCoverage(int replica, IReadOnlyList<LayerRange> ranges, int layerCount)
    {
        var owner = new int[layerCount];
        Array.Fill(owner, -1);
        for (int s = 0; s < ranges.Count; s++)
        {
            var range = ranges[s];
            if (range.End > layerCount)
                throw new InvalidConfigurationException($"replica {replica} stage {s}: layers {range.Start}-{range.End - 1} go past the model's last layer {layerCount - 1}");
            for (int l = range.Start; l < range.End; l++)
            {
                if (owner[l] >= 0)
                    throw new InvalidConfigurationException($"replica {replica}: layer {l} is covered twice (stages {owner[l]} and {s})");
                owner[l] = s;
            }
        }
        var missing = Enumerable.Range(0, layerCount).Where(l => owner[l] < 0).ToList();
        if (missing.Count > 0)
            throw new InvalidConfigurationException($"replica {replica}: layers {Ranges(missing)} are not covered by any stage");
        for (int s = 1; s < ranges.Count; s++)
            if (ranges[s].Start != ranges[s - 1].End)
                throw new InvalidConfigurationException($"replica {replica}: stage {s} starts at layer {ranges[s].Start} but stage {s - 1} ends at layer {ranges[s - 1].End - 1}; stages must follow the layer order");
    }

    /// <summary>
    /// Contiguous layer ranges whose weight (first stage + embedding, last + head) is in proportion to
    /// each stage's device memory; every stage gets at least one layer.
    /// </summary>
    public static List<LayerRange> Split(LayerCosts costs, IReadOnlyList<double> capacity)
    {
        int stages = capacity.Count, n = costs.LayerCount;
        if (stages > n) throw new InvalidConfigurationException($"{stages} stages cannot split the model's {n} layers");
        double total = costs.EmbeddingBytes + costs.HeadBytes + costs.LayerBytes.Sum();
        double capTotal = capacity.Sum();
        var ranges = new List<LayerRange>();
        int next = 0;
        double acc = costs.EmbeddingBytes, target = 0;
        for (int s = 0; s < stages; s++)
        {
            target += total * capacity[s] / capTotal;
            int start = next;
            int remainingStages = stages - s - 1;
            if (s == stages - 1) next = n;
            else
            {
                next++; // at least one layer
                acc += costs.LayerBytes[start];
                while (next < n - remainingStages && acc + costs.LayerBytes[next] / 2.0 <= target)
                {
                    acc += costs.LayerBytes[next];
                    next++;
                }
            }
            ranges.Add(new LayerRange(start, next));
        }
        return ranges;
    }

    private static string Ranges(List<int> layers)
    {
        var parts = new List<string>();
        int i = 0;
        while (i < layers.Count)
        {
            int j = i;
            while (j + 1 < layers.Count && layers[j + 1] == layers[j] + 1) j++;
            parts.Add(i == j ? $"{layers[i]}" : $"{layers[i]}-{layers[j]}");
            i = j + 1;
        }
        return string.Join(", ", parts);
    }
}
