namespace Actors.Interop.Cuda;

/// <summary>
/// Names of the status codes of the four libraries (values from cuda.h, nvrtc.h, cublas_api.h and
/// nvml.h of CUDA 11.8). Used when the library cannot name a code itself: cuBLAS and NVRTC have no
/// name function that works for every version, and a failed load leaves nothing to ask.
/// </summary>
public static class CudaStatusNames
{
    private static readonly Dictionary<int, string> Driver = new()
    {
        [0] = "CUDA_SUCCESS", [1] = "CUDA_ERROR_INVALID_VALUE", [2] = "CUDA_ERROR_OUT_OF_MEMORY",
        [3] = "CUDA_ERROR_NOT_INITIALIZED", [4] = "CUDA_ERROR_DEINITIALIZED", [34] = "CUDA_ERROR_STUB_LIBRARY",
        [100] = "CUDA_ERROR_NO_DEVICE", [101] = "CUDA_ERROR_INVALID_DEVICE", [200] = "CUDA_ERROR_INVALID_IMAGE",
        [201] = "CUDA_ERROR_INVALID_CONTEXT", [209] = "CUDA_ERROR_NO_BINARY_FOR_GPU",
        [217] = "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED", [218] = "CUDA_ERROR_INVALID_PTX",
        [221] = "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", [222] = "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        [400] = "CUDA_ERROR_INVALID_HANDLE", [500] = "CUDA_ERROR_NOT_FOUND", [600] = "CUDA_ERROR_NOT_READY",
        [700] = "CUDA_ERROR_ILLEGAL_ADDRESS", [701] = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        [702] = "CUDA_ERROR_LAUNCH_TIMEOUT", [704] = "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED",
        [705] = "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED", [711] = "CUDA_ERROR_TOO_MANY_PEERS",
        [719] = "CUDA_ERROR_LAUNCH_FAILED", [801] = "CUDA_ERROR_NOT_SUPPORTED",
        [803] = "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", [804] = "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
        [999] = "CUDA_ERROR_UNKNOWN",
    };

    private static readonly string[] Nvrtc =
    [
        "NVRTC_SUCCESS", "NVRTC_ERROR_OUT_OF_MEMORY", "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
        "NVRTC_ERROR_INVALID_INPUT", "NVRTC_ERROR_INVALID_PROGRAM", "NVRTC_ERROR_INVALID_OPTION",
        "NVRTC_ERROR_COMPILATION", "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
        "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION", "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
        "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID", "NVRTC_ERROR_INTERNAL_ERROR",
    ];

    private static readonly Dictionary<int, string> Cublas = new()
    {
        [0] = "CUBLAS_STATUS_SUCCESS", [1] = "CUBLAS_STATUS_NOT_INITIALIZED", [3] = "CUBLAS_STATUS_ALLOC_FAILED",
        [7] = "CUBLAS_STATUS_INVALID_VALUE", [8] = "CUBLAS_STATUS_ARCH_MISMATCH", [11] = "CUBLAS_STATUS_MAPPING_ERROR",
        [13] = "CUBLAS_STATUS_EXECUTION_FAILED", [14] = "CUBLAS_STATUS_INTERNAL_ERROR",
        [15] = "CUBLAS_STATUS_NOT_SUPPORTED", [16] = "CUBLAS_STATUS_LICENSE_ERROR",
    };

    private static readonly Dictionary<int, string> Nvml = new()
    {
        [0] = "NVML_SUCCESS", [1] = "NVML_ERROR_UNINITIALIZED", [2] = "NVML_ERROR_INVALID_ARGUMENT",
        [3] = "NVML_ERROR_NOT_SUPPORTED", [4] = "NVML_ERROR_NO_PERMISSION", [6] = "NVML_ERROR_NOT_FOUND",
        [7] = "NVML_ERROR_INSUFFICIENT_SIZE", [9] = "NVML_ERROR_DRIVER_NOT_LOADED",
        [12] = "NVML_ERROR_LIBRARY_NOT_FOUND", [13] = "NVML_ERROR_FUNCTION_NOT_FOUND",
        [15] = "NVML_ERROR_GPU_IS_LOST", [999] = "NVML_ERROR_UNKNOWN",
    };

    public static string Name(CudaApi api, int code) => api switch
    {
        CudaApi.Driver => Driver.TryGetValue(code, out var d) ? d : $"CUDA_ERROR_{code}",
        CudaApi.Nvrtc => (uint)code < (uint)Nvrtc.Length ? Nvrtc[code] : $"NVRTC_ERROR_{code}",
        CudaApi.Cublas => Cublas.TryGetValue(code, out var c) ? c : $"CUBLAS_STATUS_{code}",
        CudaApi.Nvml => Nvml.TryGetValue(code, out var n) ? n : $"NVML_ERROR_{code}",
        _ => code.ToString(),
    };
}
