using System.Buffers.Binary;
using Actors.Inference.Compute;
using Actors.Runtime.Remote;
using Xunit;

namespace Actors.Runtime.Tests.Transfer;

/// <summary>The frames of a remote stage's data connection: a step and its activations round-trip exactly; a bad or cut stream is a clear error.</summary>
public sealed class DataFramesTests
{
    private static StepBatch RandomBatch(Random rng)
    {
        var b = new StepBatch();
        int sequences = 3, width = 4;
        b.EnsureCapacity(64, sequences, width);
        int t = 0;
        b.QueryStart[0] = 0;
        for (int s = 0; s < sequences; s++)
        {
            int n = 1 + rng.Next(10);
            for (int i = 0; i < n; i++, t++)
            {
                b.Tokens[t] = rng.Next(320);
                b.Positions[t] = i;
                b.Slots[t] = rng.Next(1000);
            }
            b.QueryStart[s + 1] = t;
            b.BatchStart[s] = rng.Next(3);
            b.BatchEnd[s] = 3 + rng.Next(12);
            b.ContextLength[s] = n;
            for (int k = 0; k < width; k++) b.BlockTables[s * width + k] = rng.Next(60);
        }
        b.TokenCount = t;
        b.SequenceCount = sequences;
        b.LogitCount = sequences;
        for (int s = 0; s < sequences; s++) b.LogitTokens[s] = b.QueryStart[s + 1] - 1;
        return b;
    }

    [Fact]
    public void A_step_and_its_hidden_states_cross_a_data_connection_bit_for_bit()
    {
        var rng = new Random(5);
        var batch = RandomBatch(rng);
        var hidden = Enumerable.Range(0, batch.TokenCount * 16).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var wire = new MemoryStream();
        var writer = new DataFrames(wire, "test");
        writer.Begin();
        StepBatchCodec.Write(writer, batch);
        writer.PutArray(hidden);
        int sent = writer.Send(FrameKind.Forward);
        Assert.Equal(wire.Length, sent);

        wire.Position = 0;
        var reader = new DataFrames(wire, "test");
        var (kind, length) = reader.Next();
        Assert.Equal(FrameKind.Forward, kind);
        Assert.Equal(sent - DataFrames.HeaderBytes, length);
        var got = new StepBatch();
        StepBatchCodec.Read(reader, got, maxTokens: 256);
        var floats = new float[reader.ReadLength(1 << 20, "hidden")];
        reader.ReadInto(floats);
        Assert.Equal(hidden, floats);
        Assert.Equal((batch.TokenCount, batch.SequenceCount, batch.LogitCount, batch.BlockTableWidth), (got.TokenCount, got.SequenceCount, got.LogitCount, got.BlockTableWidth));
        Assert.Equal(batch.Tokens[..batch.TokenCount], got.Tokens[..got.TokenCount]);
        Assert.Equal(batch.Slots[..batch.TokenCount], got.Slots[..got.TokenCount]);
        Assert.Equal(batch.BlockTables[..(3 * 4)], got.BlockTables[..(3 * 4)]);
        Assert.Equal(batch.Positions[..batch.TokenCount], got.Positions[..got.TokenCount]);
        Assert.Equal(batch.BatchStart[..batch.SequenceCount], got.BatchStart[..got.SequenceCount]);
        Assert.Equal(batch.BatchEnd[..batch.SequenceCount], got.BatchEnd[..got.SequenceCount]);
        Assert.Equal(sent, reader.BytesRead);
    }

    [Fact]
    public void A_frame_longer_than_the_limit_is_refused_before_it_is_read()
    {
        var header = new byte[DataFrames.HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(header, DataFrames.MaxPayload + 1);
        header[4] = (byte)FrameKind.Output;
        var e = Assert.Throws<InvalidDataException>(() => new DataFrames(new MemoryStream(header), "node-b").Next());
        Assert.Contains("node-b", e.Message);
        Assert.Contains("outside 0..", e.Message);
    }

    [Fact]
    public void A_connection_that_closes_mid_frame_says_so()
    {
        var wire = new MemoryStream();
        var w = new DataFrames(wire, "x");
        w.Begin();
        w.PutArray(new float[1000]);
        w.Send(FrameKind.Output);
        var cut = new MemoryStream(wire.ToArray()[..2000]);
        var r = new DataFrames(cut, "node-b");
        r.Next();
        var into = new float[r.ReadLength(1000, "output")];
        var e = Assert.Throws<EndOfStreamException>(() => r.ReadInto(into));
        Assert.Contains("data connection to node-b closed mid-transfer", e.Message);
    }

    [Fact]
    public void A_step_with_more_tokens_than_the_stage_takes_is_refused_naming_the_limit()
    {
        var wire = new MemoryStream();
        var w = new DataFrames(wire, "x");
        w.Begin();
        StepBatchCodec.Write(w, RandomBatch(new Random(2)));
        w.Send(FrameKind.Forward);
        wire.Position = 0;
        var r = new DataFrames(wire, "node-a");
        r.Next();
        var e = Assert.Throws<InvalidDataException>(() => StepBatchCodec.Read(r, new StepBatch(), maxTokens: 2));
        Assert.Contains("max-batched-tokens", e.Message);
    }
}
