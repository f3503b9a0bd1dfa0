using System.Runtime.InteropServices;

// C# mirrors of the params structs of kernels/*.cu: same fields, same order, same types (a device
// pointer is a ulong, i64 a long), so Sequential layout gives the same offsets as the C compiler.
// KernelParamsMirrorTests parses the .cu files and checks names, order, types and the
// ACTORS_CHECK_SIZE byte counts against these declarations.
namespace Actors.Cuda.Kernels;

/// <summary>embedding.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EmbeddingParams
{
    public ulong Tokens;
    public ulong Table;
    public ulong Out;
    public long RowBytes;
    public int NTokens;
    public int Dim;
    public int NRows;
    public int Pad0;
}

/// <summary>rmsnorm.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RmsNormParams
{
    public ulong X;
    public ulong Weight;
    public ulong Out;
    public int NRows;
    public int Dim;
    public float Eps;
    public int Pad0;
}

/// <summary>rope.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RopeParams
{
    public ulong Q;
    public ulong K;
    public ulong Positions;
    public ulong FreqFactors;
    public int NTokens;
    public int NHeads;
    public int NKvHeads;
    public int HeadDim;
    public int NRot;
    public float FreqBase;
    public float FreqScale;
    public float ExtFactor;
    public float AttnFactor;
    public float CorrLow;
    public float CorrHigh;
    public int Pad0;
}

/// <summary>kv_cache.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvWriteParams
{
    public ulong K;
    public ulong V;
    public ulong Slots;
    public ulong KCache;
    public ulong VCache;
    public int NTokens;
    public int KvDim;
}

/// <summary>attention.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct AttentionParams
{
    public ulong Q;
    public ulong KCache;
    public ulong VCache;
    public ulong Out;
    public ulong BlockTables;
    public ulong Positions;
    public ulong WorkSeq;
    public ulong WorkToken;
    public ulong SeqTokenEnd;
    public int NWork;
    public int NHeads;
    public int NKvHeads;
    public int HeadDim;
    public int BlockSize;
    public int BlockTableWidth;
    public float Scale;
    public int Pad0;
}

/// <summary>silu_mul.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SiluMulParams
{
    public ulong Gate;
    public ulong Up;
    public ulong Out;
    public long N;
}

/// <summary>residual_add.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ResidualAddParams
{
    public ulong X;
    public ulong Y;
    public long N;
}

/// <summary>matvec.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MatvecParams
{
    public ulong W;
    public ulong X;
    public ulong Y;
    public long RowBytes;
    public int Rows;
    public int Cols;
    public int NTokens;
    public int Pad0;
}

/// <summary>dequant.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct DequantParams
{
    public ulong Src;
    public ulong Out;
    public long RowBytes;
    public int Rows;
    public int Cols;
}

/// <summary>sampling.cu</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SampleParams
{
    public ulong Logits;
    public ulong OutIndex;
    public ulong OutValue;
    public int NRows;
    public int NCols;
    public int K;
    public int Pad0;
}
