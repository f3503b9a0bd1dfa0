namespace Actors.Inference.Gguf;

/// <summary>
/// One tensor's header entry. <see cref="Dims"/> is in ggml order: Dims[0] is the contiguous
/// dimension, so a weight stored as [in, out] is used as y = W·x with Dims[1] rows of Dims[0] values.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dims, long RelativeOffset, long ByteSize)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Dims) n *= d;
            return n;
        }
    }

    /// <summary>Contiguous elements per row (ne[0]).</summary>
    public long RowLength => Dims.Length > 0 ? Dims[0] : 1;

    /// <summary>Rows: the product of every dimension but the first.</summary>
    public long RowCount => Dims.Length == 0 ? 1 : ElementCount / Dims[0];

    public string ShapeText => "[" + string.Join(", ", Dims) + "]";
}
