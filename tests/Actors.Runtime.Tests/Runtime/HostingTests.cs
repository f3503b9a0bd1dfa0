using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Actors.Runtime.Hosting;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>The runtime wired the way users wire it: Microsoft.Extensions.Hosting + Akka.Hosting.</summary>
public sealed class HostingTests
{
    [Fact]
    public async Task WithLlmRuntime_starts_the_runtime_and_registers_its_router()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAkka("hosted", (akka, _) => akka
            .AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
            .WithLlmRuntime(o =>
            {
                o.ModelPath = RuntimeFixture.ModelPath();
                o.CpuDevices = 1;
                o.ThreadsPerDevice = 2;
                o.KvBlocks = 64;
                o.MaxBatchedTokens = 128;
            }));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var router = host.Services.GetRequiredService<IRequiredActor<LlmRuntimeRouter>>().ActorRef;
            var system = host.Services.GetRequiredService<ActorSystem>();
            var runtime = LlmRuntime.Get(system);
            Assert.Equal(64, runtime.KvCache.NumBlocks);
            Assert.Same(runtime.Router, router);
            var result = await runtime.GenerateAsync(new Generate { RequestId = "h", PromptTokens = [4, 5, 6], MaxTokens = 5, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
            Assert.Equal(5, result.TokenIds.Count);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
