using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using Actors.Runtime.Protocol;
using Xunit;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>Stops decided once, in the scheduler's policy, with nothing emitted past them (scripted generation, real runtime).</summary>
public class StopTests : TestKit
{
    /// <summary>A Llama-3-style byte-level BPE vocabulary (begin/end_of_text) with "&lt;|eot_id|&gt;" as its last token, the model's size.</summary>
    private static Tokenizer Llama3Vocabulary(int size)
    {
        var v = SyntheticVocabulary.Build(SyntheticVocabularyKind.Gpt2Bpe, size - 1);
        var tokens = v.Tokens.Append("<|eot_id|>").ToArray();
        var types = v.TokenTypes.Append(SyntheticVocabulary.TokenTypeControl).ToArray();
        var md = new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = new(GgufValueType.String, "gpt2"),
            ["tokenizer.ggml.pre"] = new(GgufValueType.String, "llama-bpe"),
            ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, tokens, GgufValueType.String),
            ["tokenizer.ggml.token_type"] = new(GgufValueType.Array, types, GgufValueType.Int32),
            ["tokenizer.ggml.merges"] = new(GgufValueType.Array, v.Merges!, GgufValueType.String),
            ["tokenizer.ggml.bos_token_id"] = new(GgufValueType.UInt32, (uint)v.BosId),
            ["tokenizer.ggml.eos_token_id"] = new(GgufValueType.UInt32, (uint)v.EosId),
        };
        return Tokenizer.FromMetadata(md, "llama-3-style test vocabulary");
    }

    private static RuntimeHarness Start(Tokenizer tokenizer, Func<int, int> next) =>
        new(RuntimeFixture.Config(), new RuntimeSetup
        {
            Tokenizer = tokenizer,
            DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = o => new ScriptedDevice(o.Id, next) },
        }, "stops");

    /// <summary>Ordinary tokens whose text is plain letters, at least two of them.</summary>
    private static List<int> WordTokens(Tokenizer t) =>
        Enumerable.Range(0, t.VocabSize).Where(id => t.GetTokenType(id) == TokenType.Normal)
            .Where(id => t.Decode([id]) is { Length: >= 2 } s && s.All(char.IsAsciiLetterLower)).ToList();

    [Fact]
    public void A_llama3_vocabulary_eot_id_ends_generation_with_no_token_after_it()
    {
        int vocab = RuntimeFixture.Small.Vocab;
        var tokenizer = Llama3Vocabulary(vocab);
        Assert.True(tokenizer.TryGetTokenId("<|eot_id|>", out int eot));
        Assert.NotEqual(tokenizer.EosId, eot);
        var words = WordTokens(tokenizer);
        int a = words[0], b = words[1], c = words[2], after = words[3];
        // a → b → c → <|eot_id|> → after → after ...
        using var harness = Start(tokenizer, t => t == a ? b : t == b ? c : t == c ? eot : after);
        var outcome = harness.Run(new Generate { RequestId = "eot", PromptTokens = [a], MaxTokens = 20, Sampling = SamplingOptions.Greedy }, this);

        Assert.Equal(FinishReason.Stop, outcome.Completed!.Reason);
        Assert.Equal([b, c, eot], outcome.Tokens);
        Assert.Equal(tokenizer.Decode([b, c]), outcome.Text);
        Assert.Equal(3, outcome.Completed.Usage.CompletionTokens);
        harness.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void A_stop_string_spanning_two_tokens_emits_nothing_past_the_stop()
    {
        int vocab = RuntimeFixture.Small.Vocab;
        var tokenizer = Llama3Vocabulary(vocab);
        var words = WordTokens(tokenizer);
        int a = words[0];
        // Two tokens whose texts join into the stop string across their boundary, neither holding it alone.
        var (t1, t2, stop) = (from x in words from y in words
                              let sx = tokenizer.Decode([x]) let sy = tokenizer.Decode([y])
                              let s = sx[^1..] + sy[..1]
                              where x != a && y != a && x != y && !sx.Contains(s) && !sy.Contains(s)
                              select (x, y, s)).First();
        int after = words.First(w => w != a && w != t1 && w != t2);
        using var harness = Start(tokenizer, t => t == a ? t1 : t == t1 ? t2 : after);
        var outcome = harness.Run(new Generate
        {
            RequestId = "stop-string", PromptTokens = [a], MaxTokens = 20,
            Sampling = SamplingOptions.Greedy with { StopSequences = [stop] },
        }, this);

        string full = tokenizer.Decode([t1, t2]);
        Assert.Equal(FinishReason.Stop, outcome.Completed!.Reason);
        Assert.Equal([t1, t2], outcome.Tokens);                         // the token completing the stop is the last one
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], outcome.Text); // the text ends before the stop string
        Assert.Equal(2, outcome.Completed.Usage.CompletionTokens);
        harness.AwaitAllBlocksFree(this);
    }
}

/// <summary>Per-token log-probabilities and top alternatives travel in the step's pooled results to each chunk.</summary>
public class LogProbTests : TestKit
{
    [Fact]
    public void Each_chunk_carries_the_chosen_tokens_log_probability_and_the_requested_top_alternatives_most_likely_first()
    {
        int vocab = RuntimeFixture.Small.Vocab;
        using var harness = new RuntimeHarness(RuntimeFixture.Config(), new RuntimeSetup
        {
            DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = o => new ScriptedDevice(o.Id, t => 10 + (t * 7) % (vocab - 20)) },
        }, "logprobs");
        var probe = CreateTestProbe(harness.System);
        harness.Runtime.Router.Tell(new Generate
        {
            RequestId = "lp", PromptTokens = [5, 6], MaxTokens = 4,
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true, LogProbs = true, TopLogProbs = 3 },
        }, probe.Ref);
        // The scripted winner has logit 10 and every other token -10: its probability is e^10 / (e^10 + (V-1)e^-10).
        double expected = 10 - Math.Log(Math.Exp(10) + (vocab - 1) * Math.Exp(-10));
        int chunks = 0;
        while (probe.ExpectMsg<object>(TimeSpan.FromSeconds(60)) is TokenChunk c)
        {
            if (c.TokenIds.Length == 0) continue; // a text-only tail
            chunks++;
            var top = Assert.Single(c.TopLogProbs!);
            Assert.Equal(3, top.Length);
            Assert.Equal(c.TokenIds[0], top[0].TokenId);
            Assert.Equal(c.LogProbs![0], top[0].LogProb);
            Assert.Equal(expected, c.LogProbs[0], 4);
            Assert.True(top[1].LogProb <= top[0].LogProb && top[2].LogProb <= top[1].LogProb);
            Assert.True(top[1].TokenId < top[2].TokenId); // equal logits: ties to the lower id
        }
        Assert.Equal(4, chunks);
    }
}
