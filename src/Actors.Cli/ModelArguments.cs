using Actors.Inference.Model;
using Actors.Inference.Synthetic;

namespace Actors.Cli;

/// <summary>Resolves `--model` (a GGUF path) or the embedded default model.</summary>
public static class ModelArguments
{
    public static OptionSpec Option => new("model", "GGUF model file (default: the embedded default model)");

    public static string ResolvePath(Arguments args)
    {
        if (!args.Has("model")) return DefaultModel.EnsurePath();
        string path = args.RequireString("model");
        if (!File.Exists(path)) throw new CliException($"model file not found: {path}");
        return path;
    }

    public static LlamaModel Open(Arguments args) => LlamaModel.Open(ResolvePath(args));
}
