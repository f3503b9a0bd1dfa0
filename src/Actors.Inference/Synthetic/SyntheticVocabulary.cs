using System.Text;

namespace Actors.Inference.Synthetic;

/// <summary>Which tokenizer family a generated vocabulary imitates.</summary>
public enum SyntheticVocabularyKind
{
    /// <summary>llama SentencePiece: "▁" for spaces, scored pieces, byte fallback tokens &lt;0xXX&gt;.</summary>
    SentencePiece,
    /// <summary>GPT-2 byte-level BPE (Llama 3 style): byte-to-unicode alphabet, ranked merges.</summary>
    Gpt2Bpe,
}

/// <summary>A tokenizer vocabulary exactly as GGUF's tokenizer.ggml.* keys hold it.</summary>
public sealed record SyntheticVocabularyData(
    string Model,        // tokenizer.ggml.model: "llama" or "gpt2"
    string? Pre,         // tokenizer.ggml.pre
    string[] Tokens,
    float[] Scores,
    int[] TokenTypes,    // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    string[]? Merges,
    int BosId,
    int EosId,
    int? UnknownId,
    bool AddBos);

/// <summary>
/// Builds small but realistic vocabularies: BPE merges learned from an embedded English text, so
/// that common words become single tokens and the tokenizer's merge logic is really exercised.
/// </summary>
public static class SyntheticVocabulary
{
    public const int TokenTypeNormal = 1, TokenTypeUnknown = 2, TokenTypeControl = 3, TokenTypeUserDefined = 4, TokenTypeUnused = 5, TokenTypeByte = 6;
    private const int MaxLearnedMerges = 3000;

    public static int MinimumSize(SyntheticVocabularyKind kind) => kind == SyntheticVocabularyKind.SentencePiece ? 3 + 256 + 1 : 256 + 2;

    public static SyntheticVocabularyData Build(SyntheticVocabularyKind kind, int vocabSize)
    {
        if (vocabSize < MinimumSize(kind))
            throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabulary size {vocabSize} is below the minimum {MinimumSize(kind)} for {kind}");
        return kind == SyntheticVocabularyKind.SentencePiece ? BuildSentencePiece(vocabSize) : BuildGpt2(vocabSize);
    }

    private static SyntheticVocabularyData BuildSentencePiece(int vocabSize)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { TokenTypeUnknown, TokenTypeControl, TokenTypeControl };
        var scores = new List<float> { 0, 0, 0 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); types.Add(TokenTypeByte); scores.Add(0); }

        // Words as SentencePiece sees them: a leading "▁" stands for the space before each word.
        var words = Corpus.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => "\u2581" + w).ToList();
        var chars = words.SelectMany(w => w).Distinct().OrderBy(c => c).Select(c => c.ToString()).ToList();
        var seen = new HashSet<string>(tokens);
        foreach (var ch in chars)
        {
            if (tokens.Count >= vocabSize) break;
            if (seen.Add(ch)) { tokens.Add(ch); types.Add(TokenTypeNormal); scores.Add(-1000f - tokens.Count); }
        }
        int budget = Math.Min(vocabSize - tokens.Count, MaxLearnedMerges);
        var merges = LearnMerges(words.Select(w => w.Select(c => c.ToString()).ToList()).ToList(), budget);
        for (int rank = 0; rank < merges.Count && tokens.Count < vocabSize; rank++)
        {
            string piece = merges[rank].Left + merges[rank].Right;
            if (!seen.Add(piece)) continue;
            tokens.Add(piece);
            types.Add(TokenTypeNormal);
            scores.Add(-rank); // earlier merges score higher, as in a SentencePiece BPE model
        }
        PadUnused(tokens, types, scores, vocabSize);
        return new SyntheticVocabularyData("llama", "default", tokens.ToArray(), scores.ToArray(), types.ToArray(), null,
            BosId: 1, EosId: 2, UnknownId: 0, AddBos: true);
    }

    private static SyntheticVocabularyData BuildGpt2(int vocabSize)
    {
        var byteToChar = ByteToUnicode();
        var tokens = new List<string>();
        var types = new List<int>();
        var scores = new List<float>();
        for (int b = 0; b < 256; b++) { tokens.Add(byteToChar[b].ToString()); types.Add(TokenTypeNormal); scores.Add(0); }
        // Pre-tokenised like GPT-2: a word keeps its leading space, which maps to 'Ġ'.
        var words = Corpus.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(w => Encoding.UTF8.GetBytes(" " + w).Select(b => byteToChar[b].ToString()).ToList()).ToList();
        int budget = Math.Min(vocabSize - 2 - tokens.Count, MaxLearnedMerges);
        var merges = LearnMerges(words, budget);
        var seen = new HashSet<string>(tokens);
        var mergeStrings = new List<string>();
        foreach (var (l, r) in merges)
        {
            if (tokens.Count >= vocabSize - 2) break;
            if (!seen.Add(l + r)) continue;
            tokens.Add(l + r);
            types.Add(TokenTypeNormal);
            scores.Add(0);
            mergeStrings.Add(l + " " + r);
        }
        int bos = tokens.Count;
        tokens.Add("<|begin_of_text|>"); types.Add(TokenTypeControl); scores.Add(0);
        int eos = tokens.Count;
        tokens.Add("<|end_of_text|>"); types.Add(TokenTypeControl); scores.Add(0);
        PadUnused(tokens, types, scores, vocabSize);
        return new SyntheticVocabularyData("gpt2", "llama-bpe", tokens.ToArray(), scores.ToArray(), types.ToArray(), mergeStrings.ToArray(),
            BosId: bos, EosId: eos, UnknownId: null, AddBos: true);
    }

    private static void PadUnused(List<string> tokens, List<int> types, List<float> scores, int vocabSize)
    {
        for (int i = 0; tokens.Count < vocabSize; i++)
        {
            tokens.Add($"<unused{i}>");
            types.Add(TokenTypeUnused);
            scores.Add(-1e9f);
        }
    }

    /// <summary>Classic BPE training: repeatedly merge the most frequent adjacent pair (ties: first seen).</summary>
    private static List<(string Left, string Right)> LearnMerges(List<List<string>> corpusWords, int count)
    {
        var wordCounts = new Dictionary<string, (List<string> Symbols, int Count)>();
        foreach (var w in corpusWords)
        {
            string key = string.Concat(w);
            wordCounts[key] = wordCounts.TryGetValue(key, out var e) ? (e.Symbols, e.Count + 1) : (w, 1);
        }
        var words = wordCounts.Values.ToList();
        var merges = new List<(string, string)>();
        for (int m = 0; m < count; m++)
        {
            var pairCounts = new Dictionary<(string, string), int>();
            var order = new List<(string, string)>();
            foreach (var (symbols, n) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    var pair = (symbols[i], symbols[i + 1]);
                    if (pairCounts.TryGetValue(pair, out int c)) pairCounts[pair] = c + n;
                    else { pairCounts[pair] = n; order.Add(pair); }
                }
            if (order.Count == 0) break;
            var best = order[0];
            foreach (var p in order) if (pairCounts[p] > pairCounts[best]) best = p;
            merges.Add(best);
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] = best.Item1 + best.Item2;
                        symbols.RemoveAt(i + 1);
                    }
        }
        return merges;
    }

    /// <summary>GPT-2's reversible byte-to-unicode alphabet (printable bytes map to themselves).</summary>
    public static char[] ByteToUnicode()
    {
        var map = new char[256];
        var direct = new List<int>();
        for (int b = '!'; b <= '~'; b++) direct.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) direct.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) direct.Add(b);
        var isDirect = new bool[256];
        foreach (int b in direct) { map[b] = (char)b; isDirect[b] = true; }
        int n = 0;
        for (int b = 0; b < 256; b++)
            if (!isDirect[b]) map[b] = (char)(256 + n++);
        return map;
    }

    /// <summary>Training text: plain English about the project's subject, with digits and punctuation.</summary>
    public const string Corpus =
        "The quick brown fox jumps over the lazy dog. A language model reads a prompt and writes one token at a time. " +
        "Each token is a small piece of text, often a whole word such as the, and, of, to, in, is, that, for, it, with, as, on, was. " +
        "The scheduler runs many requests together in one batch, so the weights are read once and shared by every sequence. " +
        "When the memory for the cache runs out, the lowest priority request is preempted and computed again later. " +
        "Pipeline stages pass activations from one device to the next; tensor parallel layers reduce partial sums after every layer. " +
        "Memory bandwidth decides how fast a single stream can decode: every weight is read once for each new token. " +
        "In 2023 and 2024 people built rigs with 4 GPUs, 24 GB each, linked over PCIe 4.0 at 31.5 GB/s per direction. " +
        "Once upon a time there was a little girl who lived in a village near the forest. Whenever she went out, she wore a red riding cloak. " +
        "She was very happy and she liked to play with her friends in the sun. They would run and jump and laugh all day long. " +
        "The weather today is cold and rainy, but tomorrow it will be warm and bright, and the children will play outside again. " +
        "Numbers like 1, 2, 3, 10, 42, 100 and 1000 appear in text too, as do names like Alice, Bob, Paris and London. " +
        "What is the capital of France? The capital of France is Paris. How many legs does a spider have? A spider has eight legs. " +
        "Actors send messages to each other and never share state; each actor handles one message at a time in its own mailbox. " +
        "Good software is tested against something nobody on the team wrote, with random inputs and never with zeros alone.";
}
