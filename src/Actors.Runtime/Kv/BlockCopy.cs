namespace Actors.Runtime.Kv;

/// <summary>
/// A whole-block copy the device side performs before a step's forward pass: copy-on-write
/// (device block → device block), swap-out (device block → host block) or swap-in (host → device).
/// Which address space each id refers to is given by the list the copy appears in.
/// </summary>
public readonly record struct BlockCopy(int Source, int Destination);
