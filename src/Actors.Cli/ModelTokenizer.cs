using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Tokenization;

namespace Actors.Cli;

/// <summary>Opens only the tokenizer (and metadata) of `--model`, without loading the weights.</summary>
public static class ModelTokenizer
{
    public static Tokenizer Open(Arguments a, out IReadOnlyDictionary<string, GgufValue> metadata)
    {
        string path = ModelArguments.ResolvePath(a);
        try
        {
            using var file = GgufFile.Open(path);
            metadata = file.Metadata;
            return Tokenizer.FromGguf(file);
        }
        catch (ModelFormatException ex)
        {
            throw new CliException(ex.Message);
        }
    }
}
