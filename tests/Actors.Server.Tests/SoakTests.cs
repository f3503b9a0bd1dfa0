using Actors.Server.Soak;

namespace Actors.Server.Tests;

/// <summary>A short soak: cancels, disconnects, slow readers and bad bodies leave no request without a terminal reply and nothing behind.</summary>
public sealed class SoakTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_short_soak_loses_no_request_and_leaks_no_block_or_request_actor()
    {
        await using var server = await ServerHarness.Start("actors-runtime.scheduler { max-waiting = 16, max-running-sequences = 8 }");
        var report = await SoakRunner.RunAsync(new Uri(server.Base, "v1/"), new SoakOptions
        {
            Requests = 200,
            Concurrency = 12,
            DisconnectRate = 0.1,
            CancelRate = 0.15,
            SlowReaderRate = 0.1,
            BadRequestRate = 0.1,
            MaxTokens = 24,
            Seed = 7,
            RequestTimeout = TimeSpan.FromSeconds(60),
        }, server.System);
        output.WriteLine(report.ToJson());
        Assert.True(report.Clean, report.ToJson());
        Assert.Equal(200, report.Completed + report.Rejected + report.BadRequestsRefused + report.ClientGone + report.FailedWithError + report.Lost);
        Assert.True(report.Completed > 50, report.ToJson());
        Assert.True(report.BadRequestsRefused > 5 && report.ClientGone > 5, report.ToJson());
        Assert.Equal(0, report.KvBlocksLeaked);
        Assert.Equal(0, report.RequestActorsLeaked);
    }
}
