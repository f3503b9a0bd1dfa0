using Xunit.Abstractions;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;

namespace Actors.Inference.Tests.Gguf;

/// <summary>
/// The GGUF/tokenizer fuzzer, bounded to seconds here. The long run (docs/reliability.md):
/// ACTORS_FUZZ_INPUTS=1000000 dotnet test tests/Actors.Inference.Tests -c Release --filter "FullyQualifiedName~GgufFuzzTests.Mutated"
/// </summary>
public sealed class GgufFuzzTests(ITestOutputHelper output)
{
    private static readonly string CorpusDir = Path.Combine(AppContext.BaseDirectory, "Gguf", "FuzzCorpus");

    /// <summary>
    /// The corpus kept under tests/: small generated models (SentencePiece and GPT-2 BPE vocabularies), written by
    /// SyntheticModelGenerator.Write(path, SeedSpecs[i]) as seed-{i}-{vocabulary}.seed, and past findings (*.seed).
    /// </summary>
    private static List<(string, byte[])> Corpus() =>
        Directory.GetFiles(CorpusDir, "*.seed").Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();

    public static SyntheticModelSpec[] SeedSpecs { get; } =
    [
        new() { Dim = 16, Layers = 1, Heads = 2, KvHeads = 1, Ffn = 32, Vocab = 300, Context = 64, Seed = 11, Vocabulary = SyntheticVocabularyKind.SentencePiece },
        new() { Dim = 16, Layers = 1, Heads = 2, KvHeads = 1, Ffn = 32, Vocab = 300, Context = 64, Seed = 12, Vocabulary = SyntheticVocabularyKind.Gpt2Bpe, WeightType = "F16", SeparateOutput = false },
    ];

    [Fact]
    public void Every_corpus_seed_loads_as_a_model_and_a_tokenizer()
    {
        var corpus = Corpus();
        Assert.True(corpus.Count >= SeedSpecs.Length, $"corpus at {CorpusDir} has {corpus.Count} seeds");
        foreach (var (name, bytes) in corpus.Where(c => c.Item1.StartsWith("seed-", StringComparison.Ordinal)))
        {
            using var file = GgufReader.Read(bytes, name);
            LlamaModel.FromGguf(file);
            var tokenizer = Tokenizer.FromGguf(file);
            // The SentencePiece seed's small vocabulary spells "▁" with byte tokens, which decode to "▁" itself (as in llama.cpp).
            Assert.Equal("Hello world", tokenizer.Decode(tokenizer.Encode("Hello world", addBos: false)).Replace('▁', ' ').Trim());
        }
    }

    [Fact]
    public void Past_findings_load_or_fail_with_a_format_error_quickly()
    {
        foreach (var (name, bytes) in Corpus().Where(c => c.Item1.StartsWith("finding-", StringComparison.Ordinal)))
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var steps = new List<string>();
            try
            {
                using var file = GgufReader.Read(bytes, name);
                steps.Add($"parsed {watch.ElapsedMilliseconds} ms");
                try
                {
                    LlamaModel.FromGguf(file);
                }
                catch (ModelFormatException ex)
                {
                    steps.Add(ex.Message);
                }
                steps.Add($"model {watch.ElapsedMilliseconds} ms");
                var tokenizer = Tokenizer.FromGguf(file);
                steps.Add($"tokenizer {watch.ElapsedMilliseconds} ms");
                foreach (var text in new[] { "Hello world", "  \n\t<s></s><|eot_id|>", "ü😀 \ud800x", string.Concat(Enumerable.Range(0, 50).Select(i => tokenizer.TokenText(i % tokenizer.VocabSize))) })
                    tokenizer.Decode(tokenizer.Encode(text, addBos: true, parseSpecial: true));
                steps.Add($"encoded {watch.ElapsedMilliseconds} ms");
            }
            catch (Exception ex) when (ex is GgufFormatException or ModelFormatException)
            {
            }
            output.WriteLine($"{name}: {string.Join(", ", steps)}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"{name} took {watch.ElapsedMilliseconds} ms: {string.Join(", ", steps)}");
            // finding-2026-504073: block_count 268,435,457 in a 22 KB file made the loader allocate a 2 GiB layer array first.
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            Assert.True(allocated < 64 << 20, $"{name} allocated {allocated >> 20} MiB: {string.Join(", ", steps)}");
        }
    }

    [Fact]
    public void Mutated_gguf_inputs_only_ever_fail_with_format_exceptions()
    {
        long inputs = long.TryParse(Environment.GetEnvironmentVariable("ACTORS_FUZZ_INPUTS"), out long n) ? n : 20_000;
        ulong seed = ulong.TryParse(Environment.GetEnvironmentVariable("ACTORS_FUZZ_SEED"), out ulong s) ? s : 2026;
        var report = new GgufFuzzer(Corpus(), seed).Run(inputs, hangLimit: TimeSpan.FromSeconds(2));
        output.WriteLine($"inputs {report.Inputs}, parsed {report.Parsed}, models loaded {report.ModelsLoaded}, tokenizers loaded {report.TokenizersLoaded}, " +
            $"findings {report.Findings.Count}, {report.Elapsed.TotalSeconds:0.0} s ({report.Inputs / report.Elapsed.TotalSeconds:0} inputs/s), slowest input {report.Slowest.TotalMilliseconds:0.0} ms");
        foreach (var (kind, count) in report.Rejections.OrderByDescending(r => r.Value).Take(25)) output.WriteLine($"  {count,9}  {kind}");
        if (report.Findings.Count > 0)
        {
            string dir = Path.Combine(Path.GetTempPath(), "actors-fuzz-findings");
            Directory.CreateDirectory(dir);
            foreach (var f in report.Findings)
            {
                string path = Path.Combine(dir, $"finding-{seed}-{f.Input}.seed");
                File.WriteAllBytes(path, f.Bytes);
                output.WriteLine($"finding at input {f.Input} (from {f.Seed}), saved to {path}:\n{f.Error}");
            }
        }
        Assert.Empty(report.Findings.Select(f => f.Error.Split('\n')[0]));
        Assert.True(report.Parsed > 0 && report.TokenizersLoaded > 0, "mutations left some inputs loadable, so the tokenizer was exercised");
    }
}
