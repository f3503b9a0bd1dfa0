namespace Actors.Cuda;

/// <summary>Tuning and placement knobs of the CUDA backend; the defaults suit a 24 GB or larger card.</summary>
public sealed record CudaDeviceOptions
{
    /// <summary>
    /// Projections of at most this many tokens use the matvec kernels (weights read in place, 8 tokens
    /// per read); larger ones use cuBLAS GemmEx on f16-dequantised weights. 8 = decode-sized.
    /// </summary>
    public int MatvecMaxTokens { get; init; } = 8;

    /// <summary>Use cuBLAS for large projections when it can be loaded; otherwise matvec does everything (slower prefill).</summary>
    public bool UseCublas { get; init; } = true;

    /// <summary>
    /// Fail device creation, naming every library tried, when cuBLAS cannot be loaded, instead of
    /// running large batches on the matvec kernels (the GPU check sets it so the GEMM path is tested).
    /// </summary>
    public bool RequireCublas { get; init; }

    /// <summary>Kernel cache directory; null = $ACTORS_CACHE/cubin or ~/.cache/actors/cubin.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Pinned staging used to upload weights (split in two halves that alternate).</summary>
    public long UploadStagingBytes { get; init; } = 32L << 20;

    /// <summary>At most this many bytes of logits are computed and copied back at a time.</summary>
    public long LogitChunkBytes { get; init; } = 64L << 20;

    /// <summary>Cap on the f16 scratch a quantised weight is dequantised into for a GEMM (larger weights go in row slices).</summary>
    public long GemmWeightScratchBytes { get; init; } = 256L << 20;

    /// <summary>Workspace handed to cuBLAS (cublasSetWorkspace).</summary>
    public long CublasWorkspaceBytes { get; init; } = 32L << 20;

    public void Validate()
    {
        if (MatvecMaxTokens < 1) throw new ArgumentOutOfRangeException(nameof(MatvecMaxTokens), $"MatvecMaxTokens must be at least 1, got {MatvecMaxTokens}");
        if (UploadStagingBytes < 2 << 20) throw new ArgumentOutOfRangeException(nameof(UploadStagingBytes), $"UploadStagingBytes must be at least 2 MiB, got {UploadStagingBytes}");
        if (LogitChunkBytes < 1 << 20) throw new ArgumentOutOfRangeException(nameof(LogitChunkBytes), $"LogitChunkBytes must be at least 1 MiB, got {LogitChunkBytes}");
        if (GemmWeightScratchBytes < 1 << 20) throw new ArgumentOutOfRangeException(nameof(GemmWeightScratchBytes), $"GemmWeightScratchBytes must be at least 1 MiB, got {GemmWeightScratchBytes}");
        if (CublasWorkspaceBytes < 0) throw new ArgumentOutOfRangeException(nameof(CublasWorkspaceBytes), $"CublasWorkspaceBytes must not be negative, got {CublasWorkspaceBytes}");
    }
}
