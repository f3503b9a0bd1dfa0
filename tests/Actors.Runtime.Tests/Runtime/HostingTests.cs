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

    [Fact]
    public async Task A_hosted_runtime_gets_cuda_devices_from_its_options_falling_back_to_the_cpu_where_there_is_no_gpu()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAkka("hosted-cuda", (akka, _) => akka
            .AddHocon("akka.loglevel = ERROR", HoconAddMode.Prepend)
            .WithLlmRuntime(o =>
            {
                o.ModelPath = RuntimeFixture.ModelPath();
                o.CudaDevices = 1;
                o.CudaFallbackToCpu = true;
                o.KvBlocks = 64;
                o.MaxBatchedTokens = 128;
            }));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var runtime = LlmRuntime.Get(host.Services.GetRequiredService<ActorSystem>());
            var device = Assert.Single(runtime.Devices);
            Assert.Equal("cuda:0", device.Id);
            var expected = Actors.Interop.Cuda.CudaAvailability.Probe().IsAvailable ? Actors.Inference.Compute.DeviceKind.Cuda : Actors.Inference.Compute.DeviceKind.Cpu;
            Assert.Equal(expected, device.Kind);
            var result = await runtime.GenerateAsync(new Generate { RequestId = "c", PromptTokens = [4, 5, 6], MaxTokens = 3, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
            Assert.Equal(3, result.TokenIds.Count);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
