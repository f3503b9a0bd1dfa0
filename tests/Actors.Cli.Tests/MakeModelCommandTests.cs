using Actors.Cli;
using Actors.Cli.Commands;
using Actors.Inference.Model;

namespace Actors.Cli.Tests;

/// <summary>`actors make-model --arch`: every architecture writes a file that loads as that architecture; bad values are one-line errors.</summary>
public sealed class MakeModelCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("actors-make-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<int> Run(params string[] args)
    {
        var command = new MakeModelCommand();
        return await command.RunAsync(new Arguments(command.Name, args, command.Options), new StringWriter(), CancellationToken.None);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("mistral")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("gemma2")]
    [InlineData("gemma3")]
    [InlineData("phi3")]
    public async Task Each_architecture_writes_a_file_that_loads_as_that_architecture(string arch)
    {
        string path = Path.Combine(_dir, $"{arch}.gguf");
        Assert.Equal(0, await Run("--out", path, "--arch", arch, "--dim", "64", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
            "--layers", "2", "--vocab", "320", "--context", "64", "--type", "F32", "--sliding-window", arch.StartsWith("gemma") ? "8" : "0"));
        using var model = LlamaModel.Open(path);
        Assert.Equal(arch, model.Config.Architecture);
    }

    [Fact]
    public async Task Unknown_architecture_and_a_gemma3_without_window_are_one_line_errors()
    {
        var e = await Assert.ThrowsAsync<CliException>(() => Run("--out", Path.Combine(_dir, "x.gguf"), "--arch", "falcon"));
        Assert.Contains("'falcon'", e.Message);
        Assert.Contains("gemma3", e.Message);
        e = await Assert.ThrowsAsync<CliException>(() => Run("--out", Path.Combine(_dir, "x.gguf"), "--arch", "gemma3", "--type", "F32"));
        Assert.Contains("sliding window", e.Message);
    }
}
