using System.Diagnostics;
using System.Text;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Tokenization;

namespace Actors.Inference.Tests.Gguf;

/// <summary>
/// A bounded mutation fuzzer over the GGUF loader, the model loader and the tokenizer. Each input is a
/// seed from the corpus with a few mutations (bit flips, interesting integers over counts and
/// lengths, truncation, chunk insertion/deletion/duplication), mostly in the header where the parser
/// works. Parsed inputs go on to <see cref="LlamaModel.FromGguf"/> and <see cref="Tokenizer.FromGguf"/>;
/// a tokenizer that loads encodes random text and decodes random ids. The only acceptable failures are
/// <see cref="GgufFormatException"/> and <see cref="ModelFormatException"/>: anything else, or an input
/// slower than the hang limit, is a finding (saved to the findings folder, reported with its seed).
/// </summary>
public sealed class GgufFuzzer(IReadOnlyList<(string Name, byte[] Bytes)> seeds, ulong seed)
{
    public sealed record Finding(long Input, string Seed, string Error, byte[] Bytes);

    public sealed record Report(long Inputs, long Parsed, long TokenizersLoaded, long ModelsLoaded, Dictionary<string, long> Rejections, List<Finding> Findings, TimeSpan Elapsed, TimeSpan Slowest);

    private static readonly long[] Interesting =
        [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4096, 65535, 65536,
         int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue, long.MaxValue, -1, -2, int.MinValue, long.MinValue, 0x7FFF_FFFF_FFFF_FFF0];

    /// <summary>Runs <paramref name="inputs"/> mutated inputs (stopping early after <paramref name="maxFindings"/> findings).</summary>
    public Report Run(long inputs, TimeSpan hangLimit, int maxFindings = 10)
    {
        var random = new Random(unchecked((int)seed) ^ (int)(seed >> 32));
        var findings = new List<Finding>();
        var rejections = new Dictionary<string, long>();
        long parsed = 0, tokenizers = 0, models = 0;
        var total = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        var one = new Stopwatch();
        for (long i = 0; i < inputs && findings.Count < maxFindings; i++)
        {
            var (name, original) = seeds[random.Next(seeds.Count)];
            byte[] input = Mutate(original, random);
            one.Restart();
            try
            {
                using var file = GgufReader.Read(input, name);
                parsed++;
                try
                {
                    LlamaModel.FromGguf(file); // not disposed: the model would close the file the tokenizer reads next
                    models++;
                }
                catch (ModelFormatException ex)
                {
                    Count(rejections, "model: " + Category(ex.Message));
                }
                Tokenizer tokenizer;
                try
                {
                    tokenizer = Tokenizer.FromGguf(file);
                }
                catch (ModelFormatException ex)
                {
                    Count(rejections, "tokenizer: " + Category(ex.Message));
                    continue;
                }
                tokenizers++;
                Exercise(tokenizer, random);
            }
            catch (GgufFormatException ex)
            {
                Count(rejections, "gguf: " + Category(ex.Message));
            }
            catch (Exception ex)
            {
                findings.Add(new Finding(i, name, ex.GetType().Name + ": " + ex.Message + "\n" + ex.StackTrace, input));
            }
            finally
            {
                one.Stop();
                if (one.Elapsed > slowest) slowest = one.Elapsed;
                if (one.Elapsed > hangLimit)
                    findings.Add(new Finding(i, name, $"took {one.Elapsed.TotalMilliseconds:0} ms (hang limit {hangLimit.TotalMilliseconds:0} ms)", input));
            }
        }
        return new Report(Math.Min(inputs, parsed + rejections.Values.Sum() + findings.Count), parsed, tokenizers, models, rejections, findings, total.Elapsed, slowest);
    }

    /// <summary>Encodes random text (special-token text, vocabulary pieces, any code point, lone surrogates) and decodes random ids.</summary>
    private static void Exercise(Tokenizer tokenizer, Random random)
    {
        var text = new StringBuilder();
        int parts = random.Next(1, 8);
        for (int p = 0; p < parts; p++)
        {
            switch (random.Next(6))
            {
                case 0: text.Append(tokenizer.TokenText(random.Next(tokenizer.VocabSize))); break;
                case 1: text.Append(' ', random.Next(1, 6)); break;
                case 2: text.Append((char)random.Next(0xD800, 0xE000)); break; // a lone surrogate
                case 3: text.Append(char.ConvertFromUtf32(RandomScalar(random))); break;
                case 4: text.Append("Hello, world! 123 \n\t"); break;
                default: text.Append("<s></s><|eot_id|><0x0A>"); break;
            }
        }
        string s = text.ToString();
        var ids = tokenizer.Encode(s, addBos: random.Next(2) == 0, parseSpecial: random.Next(2) == 0);
        foreach (int id in ids)
            if ((uint)id >= (uint)tokenizer.VocabSize) throw new InvalidOperationException($"Encode produced id {id} outside the vocabulary ({tokenizer.VocabSize})");
        tokenizer.Decode(ids);
        var randomIds = new int[random.Next(0, 12)];
        for (int k = 0; k < randomIds.Length; k++) randomIds[k] = random.Next(tokenizer.VocabSize);
        tokenizer.Decode(randomIds, renderSpecial: random.Next(2) == 0);
        var stream = tokenizer.CreateStreamDecoder();
        foreach (int id in randomIds) stream.Append(id);
    }

    private static int RandomScalar(Random random)
    {
        int cp = random.Next(4) == 0 ? random.Next(0x10000, 0x110000) : random.Next(0x20, 0x10000);
        return cp is >= 0xD800 and < 0xE000 ? 'x' : cp;
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        byte[] bytes = (byte[])original.Clone();
        int mutations = 1 + random.Next(4);
        for (int m = 0; m < mutations; m++)
        {
            if (bytes.Length == 0) break;
            // Mostly the header and metadata (where the parser works); sometimes anywhere.
            int span = random.Next(4) == 0 ? bytes.Length : Math.Min(bytes.Length, 12_000);
            int at = random.Next(span);
            switch (random.Next(8))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                case 3:
                    // An interesting 4- or 8-byte integer, aligned as counts and lengths often are.
                    long value = Interesting[random.Next(Interesting.Length)];
                    int width = random.Next(2) == 0 ? 4 : 8;
                    at = Math.Min(at & ~3, bytes.Length - width);
                    if (at < 0) break;
                    if (width == 4) BitConverter.TryWriteBytes(bytes.AsSpan(at), (int)value);
                    else BitConverter.TryWriteBytes(bytes.AsSpan(at), value);
                    break;
                case 4:
                    Array.Resize(ref bytes, at);
                    break;
                case 5:
                {
                    int length = Math.Min(random.Next(1, 64), bytes.Length - at);
                    bytes = [.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + length)];
                    break;
                }
                case 6:
                {
                    int length = Math.Min(random.Next(1, 64), bytes.Length - at);
                    int to = random.Next(bytes.Length);
                    bytes = [.. bytes.AsSpan(0, to), .. bytes.AsSpan(at, length), .. bytes.AsSpan(to)];
                    break;
                }
                default:
                {
                    var noise = new byte[random.Next(1, 16)];
                    random.NextBytes(noise);
                    bytes = [.. bytes.AsSpan(0, at), .. noise, .. bytes.AsSpan(at)];
                    break;
                }
            }
        }
        return bytes;
    }

    private static void Count(Dictionary<string, long> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    /// <summary>The message without its numbers and quoted names, so rejections group by kind.</summary>
    private static string Category(string message)
    {
        int colon = message.IndexOf(": ", StringComparison.Ordinal);
        string body = colon >= 0 && colon < 60 ? message[(colon + 2)..] : message;
        var sb = new StringBuilder(Math.Min(body.Length, 60));
        bool quoted = false;
        foreach (char c in body)
        {
            if (sb.Length >= 60) break;
            if (c == '\'') { quoted = !quoted; if (quoted) sb.Append('…'); continue; }
            if (quoted) continue;
            if (char.IsDigit(c)) { if (sb.Length == 0 || sb[^1] != '#') sb.Append('#'); continue; }
            sb.Append(c);
        }
        return sb.ToString();
    }
}
