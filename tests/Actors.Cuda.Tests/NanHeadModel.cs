using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;

namespace Actors.Cuda.Tests;

/// <summary>
/// A synthetic F32 model whose output head has one NaN weight in the row of token <see cref="NanToken"/>: every
/// logit row the model computes holds NaN at that token and finite logits elsewhere (a partly-NaN row, as a
/// broken checkpoint or an overflow gives). The file is a temporary copy, deleted on dispose.
/// </summary>
internal sealed class NanHeadModel : IDisposable
{
    public LlamaModel Model { get; }
    public int NanToken { get; }
    private readonly string _path;

    public NanHeadModel(int seed, int layers = 2)
    {
        var spec = new SyntheticModelSpec { Dim = 256, Layers = layers, Heads = 4, KvHeads = 2, Ffn = 512, Vocab = 320, WeightType = "F32", Seed = (ulong)seed };
        var rng = new Random(seed);
        NanToken = 3 + rng.Next(spec.Vocab - 3);
        _path = Path.Combine(Path.GetTempPath(), $"actors-nan-head-{Guid.NewGuid():N}.gguf");
        SyntheticModelGenerator.Write(_path, spec);
        long at;
        using (var file = GgufFile.Open(_path))
        {
            var head = file.GetTensor("output.weight");
            if (head.Type != GgmlType.F32 || head.RowLength != spec.Dim || head.RowCount != spec.Vocab)
                throw new InvalidOperationException($"output.weight is {head.Type} {head.ShapeText}; expected F32 [{spec.Dim}, {spec.Vocab}]");
            at = file.AbsoluteOffset(head) + 4L * ((long)NanToken * spec.Dim + rng.Next(spec.Dim));
        }
        using (var stream = new FileStream(_path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = at;
            stream.Write(BitConverter.GetBytes(float.NaN));
        }
        Model = LlamaModel.Open(_path);
    }

    public void Dispose()
    {
        Model.Dispose();
        File.Delete(_path);
    }
}
