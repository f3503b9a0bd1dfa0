using Actors.Inference.Cpu;

namespace Actors.Inference.Tests.Cpu;

public sealed class PageTouchTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(1023)]
    [InlineData(1025)]
    [InlineData(300_001)]
    public void Touching_an_array_leaves_every_value_as_it_was(int length)
    {
        var rng = new Random(length);
        var array = new float[length];
        for (int i = 0; i < length; i++) array[i] = (float)(rng.NextDouble() * 2 - 1);
        var before = (float[])array.Clone();
        PageTouch.Write(array);
        Assert.Equal(before, array);
    }
}
