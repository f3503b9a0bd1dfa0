using Actors.Inference.Gguf;
using Actors.Inference.Quantization;

namespace Actors.Inference.Model;

/// <summary>
/// A 2-D weight used as y = W·x: <see cref="Rows"/> output rows of <see cref="Cols"/> contiguous
/// values each, stored in ggml blocks of <see cref="Type"/> (GGUF ne = [Cols, Rows]). Rows are read
/// in place from the source; nothing is dequantised ahead of time.
/// </summary>
public sealed class WeightMatrix
{
    public string Name { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int RowBytes { get; }
    public TensorSource Source { get; }

    public WeightMatrix(string name, GgmlType type, int rows, int cols, TensorSource source)
    {
        Name = name;
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = checked((int)GgmlTypeInfo.RowBytes(type, cols));
        Source = source;
    }

    public long ByteSize => (long)RowBytes * Rows;

    /// <summary>
    /// A copy in the CPU's register-tile layout (<see cref="Cpu.Kernels.WeightRepacking"/>), made once at
    /// load; the matmul then reads only it and the source pages are not touched again. Null: row kernels.
    /// </summary>
    internal object? Repacked { get; set; }

    /// <summary>The bytes of rows [first, first + count).</summary>
    public ReadOnlySpan<byte> RowSpan(int first, int count) => Source.Span((long)first * RowBytes, checked(count * RowBytes));

    /// <summary>Decodes one row to floats (for embeddings and tests; matmuls read blocks directly).</summary>
    public void DequantizeRow(int row, Span<float> dst) => ReferenceQuantizer.Dequantize(Type, RowSpan(row, 1), dst[..Cols]);

    public override string ToString() => $"{Name} {Type} [{Cols} x {Rows}]";
}
