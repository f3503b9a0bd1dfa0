using Actors.Inference.Compute;
using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class StepBatchFillerTests
{
    [Fact]
    public void Filled_batch_has_positions_slots_ranges_tables_and_logit_rows_of_the_step()
    {
        var settings = Settings(budget: 12, blockSize: 4, blocks: 32);
        var policy = new SchedulerPolicy(settings);
        policy.Add(Request(1, 5));
        policy.Step();
        policy.Add(Request(2, 30)); // chunked: 11 tokens after the decode
        var step = policy.Schedule();
        var batch = new StepBatch();
        StepBatchFiller.Fill(step, batch);
        batch.Validate(new KvCacheSpec(settings.BlockSize, settings.NumBlocks, KvHeads: 1, HeadDim: 1), vocabSize: 100_000);

        Assert.Equal((12, 2, 1), (batch.TokenCount, batch.SequenceCount, batch.LogitCount));
        Assert.Equal(new[] { 0, 1, 12 }, batch.QueryStart[..3]);
        Assert.Equal(new[] { 6, 11 }, batch.ContextLength[..2]);
        // llama.cpp's batch is each whole prompt, whatever this step's chunk.
        Assert.Equal(new[] { 0, 0 }, batch.BatchStart[..2]);
        Assert.Equal(new[] { 5, 30 }, batch.BatchEnd[..2]);
        Assert.Equal(5, batch.Positions[0]);
        var table = step.BlockTableOf(0);
        Assert.Equal(table[1] * 4 + 1, batch.Slots[0]);
        Assert.Equal(0, batch.LogitTokens[0]); // only the decode samples; the chunk is not finished
        Assert.Equal(step.AllTokens.ToArray(), batch.Tokens[..12]);
        policy.Complete(step);
    }

    [Fact]
    public void Refilling_a_batch_for_later_steps_allocates_nothing()
    {
        var policy = new SchedulerPolicy(Settings(budget: 16));
        for (long id = 1; id <= 4; id++) policy.Add(Request(id, 3, maxNewTokens: 40));
        var batch = new StepBatch();
        var first = policy.Schedule();
        StepBatchFiller.Fill(first, batch);
        policy.Complete(first);
        var step = policy.Schedule();
        long before = GC.GetAllocatedBytesForCurrentThread();
        StepBatchFiller.Fill(step, batch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        policy.Complete(step);
    }
}
