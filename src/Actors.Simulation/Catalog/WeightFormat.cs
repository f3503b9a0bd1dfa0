namespace Actors.Simulation.Catalog;

/// <summary>
/// How weights are stored: ggml blocks of <see cref="BlockElements"/> weights in <see cref="BlockBytes"/>
/// bytes, or, for llama.cpp's mixture presets (Q4_K_M), an average <see cref="BitsPerWeight"/>.
/// The cost model charges every weight at the average, which is exact for pure formats.
/// </summary>
public sealed record WeightFormat(string Name, double BitsPerWeight, int BlockElements = 0, int BlockBytes = 0)
{
    public double BytesPerWeight => BitsPerWeight / 8;

    public bool IsMixture => BlockElements == 0;

    public long BytesFor(long weights) => (long)Math.Ceiling(weights * BytesPerWeight);

    public static WeightFormat Blocks(string name, int blockElements, int blockBytes)
        => new(name, 8.0 * blockBytes / blockElements, blockElements, blockBytes);

    public override string ToString() => Name;
}
