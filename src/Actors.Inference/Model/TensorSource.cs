using Actors.Inference.Gguf;

namespace Actors.Inference.Model;

/// <summary>Where a tensor's bytes live: a memory-mapped GGUF file or an in-memory array.</summary>
public abstract class TensorSource
{
    public abstract ReadOnlySpan<byte> Span(long offset, int length);

    /// <summary>Hints that [offset, offset + length) will not be read again soon (a repacked copy replaced it); pages of a memory map leave the resident set.</summary>
    public virtual void Release(long offset, long length) { }

    public static TensorSource FromArray(byte[] bytes) => new ArraySource(bytes);

    private sealed class ArraySource(byte[] bytes) : TensorSource
    {
        public override ReadOnlySpan<byte> Span(long offset, int length) => bytes.AsSpan(checked((int)offset), length);
    }
}

/// <summary>Tensor bytes read straight from the memory map of an open GGUF file (zero copy).</summary>
public sealed class GgufTensorSource(GgufFile file, GgufTensorInfo tensor) : TensorSource
{
    public override ReadOnlySpan<byte> Span(long offset, int length) => file.TensorSpan(tensor, offset, length);

    public override void Release(long offset, long length) =>
        file.Mapped.Release(file.AbsoluteOffset(tensor) + offset, Math.Min(length, tensor.ByteSize - offset));
}

/// <summary>A byte range of another source: one part (e.g. the K rows) of a fused tensor.</summary>
public sealed class SliceTensorSource(TensorSource inner, long start) : TensorSource
{
    public override ReadOnlySpan<byte> Span(long offset, int length) => inner.Span(start + offset, length);

    public override void Release(long offset, long length) => inner.Release(start + offset, length);
}
