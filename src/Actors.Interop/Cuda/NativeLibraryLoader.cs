using System.Runtime.InteropServices;

namespace Actors.Interop.Cuda;

/// <summary>
/// Loads one native library from a list of candidate names and resolves its exports by exact name,
/// so that a missing library or symbol becomes a message naming it rather than an
/// EntryPointNotFoundException at the first call.
/// </summary>
internal sealed class NativeLibraryLoader
{
    public IntPtr Handle { get; }
    public string Name { get; }

    private NativeLibraryLoader(IntPtr handle, string name)
    {
        Handle = handle;
        Name = name;
    }

    /// <summary>Tries each candidate in order; on failure <paramref name="error"/> lists what was tried.</summary>
    public static bool TryLoad(IReadOnlyList<string> candidates, out NativeLibraryLoader? library, out string error, Action<string>? beforeLoad = null)
    {
        foreach (string name in candidates)
        {
            bool isPath = Path.IsPathRooted(name);
            if (isPath && !File.Exists(name)) continue;
            if (isPath) beforeLoad?.Invoke(name);
            if (NativeLibrary.TryLoad(name, out IntPtr handle))
            {
                library = new NativeLibraryLoader(handle, name);
                error = "";
                return true;
            }
        }
        library = null;
        var names = candidates.Where(c => !Path.IsPathRooted(c) || c == candidates[0]).ToList();
        error = candidates.Count == 1
            ? $"{candidates[0]} could not be loaded"
            : $"none of {string.Join(", ", names)} could be loaded" + (names.Count < candidates.Count ? " (also looked in the CUDA toolkit directories)" : "");
        return false;
    }

    /// <summary>The address of an export; throws a <see cref="CudaException"/> naming the library and the symbol.</summary>
    public IntPtr Export(string symbol) =>
        NativeLibrary.TryGetExport(Handle, symbol, out IntPtr address)
            ? address
            : throw new CudaException($"{Name} does not export {symbol} (the library is too old or not the real one)");

    /// <summary>The address of an export, or zero when the library does not have it.</summary>
    public IntPtr OptionalExport(string symbol) =>
        NativeLibrary.TryGetExport(Handle, symbol, out IntPtr address) ? address : IntPtr.Zero;

    /// <summary>Reads a NUL-terminated UTF-8/ASCII string that the library owns.</summary>
    public static unsafe string? ReadString(byte* text) =>
        text == null ? null : Marshal.PtrToStringUTF8((IntPtr)text);
}
