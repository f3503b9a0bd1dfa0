namespace Actors.Inference.Compute;

/// <summary>Transformer blocks [Start, End) that one pipeline stage owns.</summary>
public readonly record struct LayerRange(int Start, int End)
{
    public int Count => End - Start;
    public bool Contains(int layer) => layer >= Start && layer < End;
    public override string ToString() => Count == 1 ? $"layer {Start}" : $"layers {Start}-{End - 1}";
}
