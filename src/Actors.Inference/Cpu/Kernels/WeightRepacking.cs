using System.Diagnostics;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Decides, per tensor, whether the CPU multiplies a weight from a repacked copy (register-tile layout,
/// int8 dot products) or with the row kernels straight from the file, and makes the copy once.
/// Types without a repacked kernel, and machines without AVX-512 + AVX-VNNI, keep the row kernels.
/// </summary>
public static class WeightRepacking
{
    /// <summary>Process-wide switch (benchmarks compare both); read when a stage loads.</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("ACTORS_CPU_REPACK") is not ("0" or "off");

    /// <summary>
    /// Every type with a repacked layout, each bit-identical to its row kernel (llama.cpp's order) in the one-token
    /// and batch orders; figures are tile / row kernel (docs/benchmarks.md, "Repacked int8 tiles" and each type's section):
    /// <list type="bullet">
    /// <item>Q8_0 2.2-4x; Q4_0 3.2-3.6x at one token in cache, 1.7x from DRAM, ~5x for many; IQ4_NL 3-6x and ~8x.</item>
    /// <item>Q4_1, Q5_0, Q5_1 (<see cref="RepackedBlock32{T}"/>): 3.7-4x at one token in cache, 1.7-2.1x from DRAM, 2.7-3.6x for many.</item>
    /// <item>Q4_K ~1.3x: each block's integer sums fold into f32 as ggml's repacked q4_K GEMM does (a separate accumulator
    /// for the mins, subtracted at the end), which llama.cpp itself runs for Q4_K on AVX2 and up.</item>
    /// <item>Q5_K ~1.9x at one token in cache, ~1.7x from DRAM, ~2.3x for many; Q6_K 1.06-1.4x at one token, ~1.45x for many;
    /// Q3_K 1.9-6x at one token (from DRAM too) and for many.</item>
    /// <item>IQ4_XS ~1.8x at one token (in cache and from DRAM), ~1.1x for many.</item>
    /// <item>Q2_K (<see cref="RepackedQ2_K"/>, its one-token and batch orders) ~4.3x at one token in cache, ~3x from DRAM,
    /// 3.1-3.6x for many.</item>
    /// </list>
    /// F16, BF16 and F32 stay on their row kernels.
    /// </summary>
    // Every type that has a repacked layout.
    public static readonly IReadOnlySet<GgmlType> DefaultTypes = new HashSet<GgmlType> { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.IQ4_NL, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q3_K, GgmlType.Q5_K, GgmlType.IQ4_XS, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K };

    /// <summary>
    /// Types repacked when a stage loads: $ACTORS_CPU_REPACK as a comma list (e.g. "Q8_0,Q4_K,Q6_K"), else <see cref="DefaultTypes"/>.
    /// Read on first use, not in the type's initialiser, so a bad value fails the stage load with its own message.
    /// </summary>
    public static IReadOnlySet<GgmlType> Types
    {
        get => _types ??= ParseTypes(Environment.GetEnvironmentVariable("ACTORS_CPU_REPACK"));
        set => _types = value;
    }
    private static IReadOnlySet<GgmlType>? _types;

    /// <summary>$ACTORS_CPU_REPACK's value as a set of types; a name that is no GGML type, or a type without a repacked layout, is refused.</summary>
    internal static IReadOnlySet<GgmlType> ParseTypes(string? v)
    {
        if (string.IsNullOrWhiteSpace(v) || v is "0" or "off" or "1" or "on") return DefaultTypes;
        var set = new HashSet<GgmlType>();
        foreach (var name in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<GgmlType>(name, ignoreCase: true, out var t) || !Enum.IsDefined(t))
                throw new ArgumentException($"ACTORS_CPU_REPACK: '{name}' is not a GGML type (use e.g. Q8_0,Q4_K,Q6_K, or 0 to turn repacking off)");
            if (!DefaultTypes.Contains(t))
                throw new ArgumentException($"ACTORS_CPU_REPACK: {t} has no repacked layout (types with one: {string.Join(",", DefaultTypes)})");
            set.Add(t);
        }
        return set;
    }

    /// <summary>Whether <paramref name="type"/> has a repacked kernel on this machine.</summary>
    public static bool Supports(GgmlType type) => type switch
    {
        GgmlType.Q8_0 => RepackedQ8_0.IsSupported,
        GgmlType.Q4_K => RepackedQ4_K.IsSupported,
        GgmlType.Q6_K => RepackedQ6_K.IsSupported,
        GgmlType.Q3_K => RepackedQ3_K.IsSupported,
        GgmlType.Q5_K => RepackedQ5_K.IsSupported,
        GgmlType.Q4_0 => RepackedNibbles<Q4_0Levels>.IsSupported,
        GgmlType.IQ4_NL => RepackedNibbles<IQ4_NLLevels>.IsSupported,
        GgmlType.IQ4_XS => RepackedIQ4_XS.IsSupported,
        GgmlType.Q4_1 => RepackedBlock32<Q4_1Format>.IsSupported,
        GgmlType.Q5_0 => RepackedBlock32<Q5_0Format>.IsSupported,
        GgmlType.Q5_1 => RepackedBlock32<Q5_1Format>.IsSupported,
        GgmlType.Q2_K => RepackedQ2_K.IsSupported,
        _ => false,
    };

    /// <summary>Repacks <paramref name="w"/> if its type has a repacked kernel; idempotent and safe from several threads.</summary>
    public static bool TryRepack(WeightMatrix w)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (w.Repacked != null) return true;
        if (!Supports(w.Type)) return false;
        lock (w)
        {
            if (w.Repacked != null) return true;
            object? r = w.Type switch
            {
                GgmlType.Q8_0 => RepackedQ8_0.Create(w),
                GgmlType.Q4_K => RepackedQ4_K.Create(w),
                GgmlType.Q6_K => RepackedQ6_K.Create(w),
                GgmlType.Q3_K => RepackedQ3_K.Create(w),
                GgmlType.Q5_K => RepackedQ5_K.Create(w),
                GgmlType.Q4_0 => RepackedNibbles<Q4_0Levels>.Create(w),
                GgmlType.IQ4_NL => RepackedNibbles<IQ4_NLLevels>.Create(w),
                GgmlType.IQ4_XS => RepackedIQ4_XS.Create(w),
                GgmlType.Q4_1 => RepackedBlock32<Q4_1Format>.Create(w),
                GgmlType.Q5_0 => RepackedBlock32<Q5_0Format>.Create(w),
                GgmlType.Q5_1 => RepackedBlock32<Q5_1Format>.Create(w),
                GgmlType.Q2_K => RepackedQ2_K.Create(w),
                _ => null,
            };
            w.Repacked = r;
            // The copy replaces the source for every matmul: let the mapped pages go (no double residency).
            // Embedding lookups of a tied head read single rows and page them back in on demand.
            if (r != null) w.Source.Release(0, w.ByteSize);
            return r != null;
        }
    }

    /// <summary>Seconds the last <see cref="RepackStage"/> took (benchmarks report it).</summary>
    public static double LastRepackSeconds { get; private set; }

    /// <summary>Repacks the matrices of layers [start, end) and the output head when <paramref name="head"/> on the device's threads; returns the seconds it took.</summary>
    public static double RepackStage(LlamaModel model, int start, int end, bool head, CpuWorkerPool pool)
    {
        if (!Enabled) return 0;
        var sw = Stopwatch.StartNew();
        var all = model.Layers.Skip(start).Take(end - start).SelectMany(l => l.Matrices).ToList();
        if (head) all.Add(model.Output);
        all.RemoveAll(w => !Types.Contains(w.Type));
        // Largest first, so the last matrices to start are small and the threads finish together.
        pool.Run(all.Count, new RepackWork(all.OrderByDescending(w => w.ByteSize).ToArray()));
        return LastRepackSeconds = sw.Elapsed.TotalSeconds;
    }

    private sealed class RepackWork(WeightMatrix[] matrices) : IParallelWork
    {
        public void Execute(int index) => TryRepack(matrices[index]);
    }
}
