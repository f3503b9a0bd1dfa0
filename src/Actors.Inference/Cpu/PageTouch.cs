namespace Actors.Inference.Cpu;

/// <summary>
/// Maps a fresh array's pages now instead of on first use: the kernel maps a large array's pages on their first
/// write, one fault per 4 KiB page, and a step that writes scratch rows no step wrote before pays those faults
/// inside it.
/// </summary>
internal static class PageTouch
{
    private const int FloatsPerPage = 4096 / sizeof(float);

    /// <summary>Writes one value per page (the value already there: the array's contents do not change).</summary>
    public static void Write(float[] array)
    {
        for (long i = 0; i < array.LongLength; i += FloatsPerPage) array[i] = array[i];
    }
}
