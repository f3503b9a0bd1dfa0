namespace Actors.Inference.Cpu.Kernels;

/// <summary>Interim: activations kept as floats (the optimised kernels replace this).</summary>
public sealed class PreparedActivations
{
    internal float[] Values = [];
    internal int Tokens, Cols;

    public void EnsureCapacity(int tokens, int cols)
    {
        if (Values.Length < tokens * cols) Values = new float[tokens * cols];
    }
}
