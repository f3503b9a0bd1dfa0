using System.Numerics.Tensors;
using System.Security.Cryptography;

namespace Actors.Inference.Sampling;

/// <summary>
/// Picks the next token of one sequence from its logits. The steps, in llama.cpp's order:
/// <list type="number">
/// <item>logit bias (OpenAI's logit_bias: a per-request sparse table added to the logits);</item>
/// <item>penalties: repetition (llama.cpp: over the last <see cref="SamplingParameters.RepeatLastN"/>
/// previous tokens, a positive logit is divided by the penalty, a negative or zero one multiplied), then
/// presence and frequency (OpenAI: logit -= count·frequency + (count &gt; 0)·presence, counting all
/// previous tokens given);</item>
/// <item>top-k (the k highest logits, ties to the lower id);</item>
/// <item>top-p on the softmax of what is left at temperature 1 (the smallest prefix, by descending
/// logit, whose mass reaches p);</item>
/// <item>min-p (keep logit ≥ max logit + ln(min_p), i.e. p ≥ min_p · p_max);</item>
/// <item>temperature (logits / T), softmax over the survivors, and one draw from them.</item>
/// </list>
/// Temperature 0 is greedy: the argmax after penalties, ties to the lowest id.
/// <para>
/// The reported log-probability is the "processed" one (as vLLM's processed_logprobs): the log-softmax
/// over the whole vocabulary of the logits after penalties and temperature, before top-k/top-p/min-p
/// truncation (greedy uses temperature 1). It does not depend on which filters are on, so it stays
/// comparable between requests.
/// </para>
/// <para>
/// One sampler per sequence, not thread-safe. The generator is xoshiro256** seeded from
/// <see cref="SamplingParameters.Seed"/>: the same seed, logits and previous tokens give the same
/// tokens. Buffers are sized to the vocabulary up front; a call allocates nothing. Top-k uses a heap
/// of k entries; top-p without top-k first tries the 1,024 most likely tokens and sorts the whole
/// vocabulary only when their mass is below p.
/// </para>
/// </summary>
public sealed class Sampler
{
    private const int PartialSortSize = 1024;

    private readonly SamplingParameters _p;
    private readonly int _vocab;
    private readonly float[] _logits;        // this call's logits after penalties
    private readonly int[] _counts;          // per token: occurrences among the previous tokens (zero between calls)
    private readonly int[] _windowCounts;    // per token: occurrences among the last RepeatLastN (zero between calls)
    private readonly int[] _candidates;      // surviving token ids, [0, _count)
    private readonly double[] _probs;        // their final probabilities
    private readonly int[] _heap;            // selection heap for top-k / top logprobs
    private readonly float[] _scratch;       // scaled logits and their exponentials for the log-sum-exp
    private readonly Comparison<int> _byLogitDescending;
    private readonly int[] _biasTokens;      // logit bias as two parallel arrays: a step walks them, no lookups
    private readonly float[] _biasValues;
    private long[]? _sortKeys;               // for the rare full sort (top-p over a flat distribution)
    private SamplerRandom _rng;
    private int _count;
    private double _invTemperature;          // 1/T of the last call (1 when greedy)
    private double _logSumExp;               // log Σ exp(logit/T) over the vocabulary, NaN until computed
    private bool _hasSample;

    public Sampler(SamplingParameters parameters, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        parameters.Validate(vocabSize);
        _p = parameters;
        _vocab = vocabSize;
        _logits = new float[vocabSize];
        _counts = new int[vocabSize];
        _windowCounts = new int[vocabSize];
        _candidates = new int[vocabSize];
        _probs = new double[vocabSize];
        _scratch = new float[vocabSize];
        _heap = new int[Math.Max(Math.Min(vocabSize, Math.Max(parameters.TopK, PartialSortSize)), SamplingParameters.MaxTopLogProbs)];
        _byLogitDescending = CompareByLogitDescending;
        var bias = parameters.LogitBias?.Where(b => b.Value != 0).OrderBy(b => b.Key).ToArray() ?? [];
        _biasTokens = bias.Select(b => b.Key).ToArray();
        _biasValues = bias.Select(b => b.Value).ToArray();
        Seed = parameters.Seed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        _rng = new SamplerRandom(Seed);
        TopKThatDecides = LogitNeeds.TopKThatDecides(parameters, vocabSize);
        for (long i = 0; i < parameters.RandomDraws; i++) _rng.NextUInt64(); // resume where an earlier run of this seed stopped
    }

    public SamplingParameters Parameters => _p;
    /// <summary>How many of a row's best logits decide this sampler's next token (<see cref="LogitNeeds.TopKThatDecides"/>); 0: the whole row.</summary>
    public int TopKThatDecides { get; }
    public int VocabSize => _vocab;
    /// <summary>The seed in use (drawn at random when the parameters gave none), to reproduce a run.</summary>
    public ulong Seed { get; }

    /// <summary>Samples the next token.</summary>
    /// <param name="logits">One logit per vocabulary entry; not modified. NaN or +∞ is rejected.</param>
    /// <param name="previousTokens">The sequence so far, as the penalties should see it (prompt and output, or output only: the caller's choice).</param>
    /// <remarks>
    /// Greedy without penalties and without <see cref="SamplingParameters.LogProbs"/> takes the argmax of
    /// <paramref name="logits"/> in place and keeps no copy (a copy of the vocabulary per sequence per step
    /// costs more than the argmax); <see cref="LogProbOf"/> and <see cref="GetTopLogProbs"/> then refuse.
    /// </remarks>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> previousTokens)
    {
        if (_p.IsGreedy && !_p.LogProbs && !HasPenalties && _biasTokens.Length == 0 && logits.Length == _vocab)
        {
            float max = TensorPrimitives.Max(logits);
            if (!float.IsNaN(max) && !float.IsInfinity(max))
            {
                int best = logits.IndexOf(max); // the first maximum: ties to the lowest id (a vectorised search, cheaper than IndexOfMax)
                _hasSample = false; // nothing kept for LogProbOf
                _candidates[0] = best;
                _probs[0] = 1;
                _count = 1;
                return best;
            }
        }
        return SampleCore(logits, previousTokens); // validates and names the bad logit
    }

    private bool HasPenalties => (_p.RepetitionPenalty != 1f && _p.RepeatLastN != 0) || _p.PresencePenalty != 0f || _p.FrequencyPenalty != 0f;

    /// <summary>Samples the next token and returns its processed log-probability (see the class summary).</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> previousTokens, out float logProb)
    {
        int token = SampleCore(logits, previousTokens);
        logProb = LogProbOf(token);
        return token;
    }

    /// <summary>The processed log-probability of any token at the last sampled position.</summary>
    public float LogProbOf(int token)
    {
        if (!_hasSample) throw new InvalidOperationException("no logits kept: no token has been sampled yet, or the last was greedy with LogProbs off");
        if ((uint)token >= (uint)_vocab)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token id {token} is outside the vocabulary (size {_vocab})");
        if (double.IsNaN(_logSumExp)) _logSumExp = LogSumExp();
        return (float)(_logits[token] * _invTemperature - _logSumExp);
    }

    /// <summary>
    /// The most likely tokens at the last sampled position with their processed log-probabilities,
    /// most likely first (ties: lower id); fills min(tokens.Length, logProbs.Length, 20) entries and returns that count.
    /// </summary>
    public int GetTopLogProbs(Span<int> tokens, Span<float> logProbs)
    {
        if (!_hasSample) throw new InvalidOperationException("no logits kept: no token has been sampled yet, or the last was greedy with LogProbs off");
        int n = Math.Min(Math.Min(tokens.Length, logProbs.Length), Math.Min(SamplingParameters.MaxTopLogProbs, _vocab));
        if (n == 0) return 0;
        int found = SelectTop(n, _heap);
        for (int i = 0; i < found; i++)
        {
            tokens[i] = _heap[i];
            logProbs[i] = LogProbOf(_heap[i]);
        }
        return found;
    }

    /// <summary>Surviving candidates of the last call and their probabilities (for tests).</summary>
    internal ReadOnlySpan<int> LastCandidates => _candidates.AsSpan(0, _count);
    internal ReadOnlySpan<double> LastProbabilities => _probs.AsSpan(0, _count);
    /// <summary>The logits of the last call after penalties (for tests).</summary>
    internal ReadOnlySpan<float> LastLogits => _logits;

    private int SampleCore(ReadOnlySpan<float> logits, ReadOnlySpan<int> previousTokens)
    {
        if (logits.Length != _vocab)
            throw new ArgumentException($"expected {_vocab} logits (the vocabulary size), got {logits.Length}", nameof(logits));
        // One vectorised pass validates (Max propagates NaN) and one copies; the scalar scan below runs
        // only to name the bad logit. Per step this runs once per sequence over the whole vocabulary.
        float max = TensorPrimitives.Max(logits);
        if (float.IsNaN(max) || float.IsPositiveInfinity(max))
            for (int i = 0; i < logits.Length; i++)
                if (float.IsNaN(logits[i]) || float.IsPositiveInfinity(logits[i]))
                    throw new ArgumentException($"logit of token {i} is {logits[i]}; logits must be finite or -infinity");
        if (float.IsNegativeInfinity(max)) throw new ArgumentException("every logit is -infinity");
        logits.CopyTo(_logits);

        for (int i = 0; i < _biasTokens.Length; i++) _logits[_biasTokens[i]] += _biasValues[i];
        ApplyPenalties(previousTokens);
        _logSumExp = double.NaN;
        _hasSample = true;

        if (_p.IsGreedy)
        {
            _invTemperature = 1;
            int best = TensorPrimitives.IndexOfMax<float>(_logits); // the first maximum: ties to the lowest id
            _candidates[0] = best;
            _probs[0] = 1;
            _count = 1;
            return best;
        }

        _invTemperature = 1.0 / _p.Temperature;
        bool sorted = false;
        if (_p.TopK > 0 && _p.TopK < _vocab)
        {
            _count = SelectTop(_p.TopK, _candidates);
            sorted = true;
        }
        else
        {
            for (int i = 0; i < _vocab; i++) _candidates[i] = i;
            _count = _vocab;
        }
        return Draw(sorted);
    }

    /// <summary>
    /// Samples the next token from the row's best logits alone, for parameters that read nothing else of it
    /// (<see cref="LogitNeeds.TopKThatDecides"/>): greedy takes the first; top-k sampling takes the first
    /// <see cref="SamplingParameters.TopK"/>, which are exactly the candidates <see cref="Sample(ReadOnlySpan{float}, ReadOnlySpan{int})"/>
    /// selects from the whole row, and draws as it does (same top-p, min-p, temperature and generator), so both
    /// give the same token. <paramref name="ids"/> and <paramref name="values"/> are best first, equal values to
    /// the smaller id. Keeps no row: <see cref="LogProbOf"/> and <see cref="GetTopLogProbs"/> then refuse.
    /// </summary>
    public int SampleFromTop(ReadOnlySpan<int> ids, ReadOnlySpan<float> values)
    {
        int need = TopKThatDecides;
        if (need == 0) throw new InvalidOperationException("these sampling parameters read the whole logit row");
        if (ids.Length < need || values.Length < need) throw new ArgumentException($"the {need} best logits are needed, got {Math.Min(ids.Length, values.Length)}");
        float best = values[0];
        if (float.IsNaN(best) || float.IsPositiveInfinity(best))
            throw new ArgumentException($"logit of token {ids[0]} is {best}; logits must be finite or -infinity");
        if (float.IsNegativeInfinity(best)) throw new ArgumentException("every logit is -infinity");
        _hasSample = false;
        _logSumExp = double.NaN;
        if (_p.IsGreedy)
        {
            _candidates[0] = ids[0];
            _probs[0] = 1;
            _count = 1;
            return ids[0];
        }
        _invTemperature = 1.0 / _p.Temperature;
        for (int i = 0; i < need; i++)
        {
            if ((uint)ids[i] >= (uint)_vocab) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token id {ids[i]} is outside the vocabulary (size {_vocab})");
            _candidates[i] = ids[i];
            _logits[ids[i]] = values[i]; // only the candidates' logits are read from here on
        }
        _count = need;
        return Draw(sorted: true);
    }

    /// <summary>Top-p and min-p over the candidates, then temperature, softmax over the survivors and one draw.</summary>
    private int Draw(bool sorted)
    {
        if (_p.TopP < 1) ApplyTopP(ref sorted);
        if (_p.MinP > 0) ApplyMinP(sorted);

        // Temperature, softmax over the survivors, one draw.
        double top = MaxCandidateLogit(sorted), z = 0;
        for (int i = 0; i < _count; i++)
        {
            double e = Math.Exp((_logits[_candidates[i]] - top) * _invTemperature);
            _probs[i] = e;
            z += e;
        }
        for (int i = 0; i < _count; i++) _probs[i] /= z;

        double u = _rng.NextDouble(), cumulative = 0;
        int chosen = -1;
        for (int i = 0; i < _count; i++)
        {
            if (_probs[i] <= 0) continue;
            chosen = _candidates[i];
            cumulative += _probs[i];
            if (u < cumulative) break;
        }
        return chosen; // the last candidate with mass if rounding left u above the total
    }

    private void ApplyPenalties(ReadOnlySpan<int> previous)
    {
        bool repetition = _p.RepetitionPenalty != 1f && _p.RepeatLastN != 0;
        bool openAi = _p.PresencePenalty != 0f || _p.FrequencyPenalty != 0f;
        if (!repetition && !openAi) return;

        for (int i = 0; i < previous.Length; i++)
            if ((uint)previous[i] >= (uint)_vocab)
                throw new ArgumentOutOfRangeException(nameof(previous), previous[i],
                    $"previous token {previous[i]} at position {i} is outside the vocabulary (size {_vocab})");

        int windowStart = _p.RepeatLastN < 0 ? 0 : Math.Max(0, previous.Length - _p.RepeatLastN);
        if (openAi) foreach (int id in previous) _counts[id]++;
        if (repetition) for (int i = windowStart; i < previous.Length; i++) _windowCounts[previous[i]]++;

        // Each distinct token once; its counters are cleared as it is done, ready for the next call.
        foreach (int id in previous)
        {
            int count = _counts[id];
            bool inWindow = _windowCounts[id] > 0;
            if (count == 0 && !inWindow) continue;
            float l = _logits[id];
            if (inWindow) l = l <= 0 ? l * _p.RepetitionPenalty : l / _p.RepetitionPenalty;
            if (count > 0) l -= count * _p.FrequencyPenalty + _p.PresencePenalty;
            _logits[id] = l;
            _counts[id] = 0;
            _windowCounts[id] = 0;
        }
    }

    private void ApplyTopP(ref bool sorted)
    {
        double max = MaxCandidateLogit(sorted), z = 0;
        for (int i = 0; i < _count; i++) z += Math.Exp(_logits[_candidates[i]] - max);
        double target = _p.TopP * z;

        if (!sorted)
        {
            // All tokens are candidates here. Usually the mass is in a few hundred tokens: try those first.
            int m = Math.Min(_vocab, PartialSortSize);
            int found = SelectTop(m, _candidates);
            double mass = 0;
            for (int i = 0; i < found && mass < target; i++) mass += Math.Exp(_logits[_candidates[i]] - max);
            _count = found;
            if (mass < target && found < _vocab)
            {
                SortAllByLogitDescending();
                _count = _vocab;
            }
            sorted = true;
        }

        double cumulative = 0;
        for (int i = 0; i < _count; i++)
        {
            cumulative += Math.Exp(_logits[_candidates[i]] - max);
            if (cumulative >= target) { _count = i + 1; return; }
        }
    }

    private void ApplyMinP(bool sorted)
    {
        double threshold = MaxCandidateLogit(sorted) + Math.Log(_p.MinP);
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            int id = _candidates[i];
            if (_logits[id] >= threshold) _candidates[kept++] = id;
        }
        _count = kept; // never 0: the maximum itself passes
    }

    private double MaxCandidateLogit(bool sorted)
    {
        if (sorted) return _logits[_candidates[0]];
        float max = float.NegativeInfinity;
        for (int i = 0; i < _count; i++) max = Math.Max(max, _logits[_candidates[i]]);
        return max;
    }

    private double LogSumExp()
    {
        // Vectorised in float (the exponentials) with the sum and the result in double: within 1e-6 of
        // the float64 reference, and ~20x cheaper than Math.Exp per token.
        var scratch = _scratch;
        float scale = (float)_invTemperature;
        TensorPrimitives.Multiply(_logits, scale, scratch);
        float max = TensorPrimitives.Max<float>(scratch);
        TensorPrimitives.Subtract(scratch, max, scratch);
        TensorPrimitives.Exp(scratch, scratch);
        double sum = 0;
        const int chunk = 1024; // partial sums in float, accumulated in double
        for (int i = 0; i < scratch.Length; i += chunk) sum += TensorPrimitives.Sum<float>(scratch.AsSpan(i, Math.Min(chunk, scratch.Length - i)));
        return max + Math.Log(sum);
    }

    // ---------------------------------------------------------------- selection

    /// <summary>
    /// Every token into <see cref="_candidates"/>, best first (ties: lower id). Sorts one 64-bit key per
    /// token, (order-preserving bits of -logit, id), which is several times faster than a comparison sort.
    /// </summary>
    private void SortAllByLogitDescending()
    {
        var keys = _sortKeys ??= new long[_vocab]; // allocated once, on the first flat distribution
        for (int i = 0; i < _vocab; i++)
        {
            int bits = BitConverter.SingleToInt32Bits(-_logits[i] + 0f); // + 0f: -0 becomes +0
            int ordered = bits >= 0 ? bits : bits ^ int.MaxValue;
            keys[i] = ((long)ordered << 32) | (uint)i;
        }
        Array.Sort(keys);
        for (int i = 0; i < _vocab; i++) _candidates[i] = (int)(keys[i] & 0xFFFFFFFF);
    }

    /// <summary>True when token a ranks before b: higher logit, ties to the lower id.</summary>
    private bool Before(int a, int b) => _logits[a] > _logits[b] || (_logits[a] == _logits[b] && a < b);

    private int CompareByLogitDescending(int a, int b) => a == b ? 0 : Before(a, b) ? -1 : 1;

    /// <summary>
    /// Writes the <paramref name="k"/> best tokens of the whole vocabulary, best first, into
    /// <paramref name="destination"/>: a heap of k entries whose root is the worst kept, then a sort.
    /// </summary>
    private int SelectTop(int k, int[] destination)
    {
        k = Math.Min(k, _vocab);
        var heap = _heap.Length >= k ? _heap : destination; // _heap is sized for every k the parameters use
        int size = 0;
        for (int id = 0; id < _vocab; id++)
        {
            if (size < k)
            {
                // sift up: the root holds the worst (the one every other is Before)
                int i = size++;
                while (i > 0)
                {
                    int parent = (i - 1) >> 1;
                    if (!Before(heap[parent], id)) break;
                    heap[i] = heap[parent];
                    i = parent;
                }
                heap[i] = id;
            }
            else if (Before(id, heap[0]))
            {
                int i = 0;
                while (true)
                {
                    int child = 2 * i + 1;
                    if (child >= size) break;
                    if (child + 1 < size && Before(heap[child], heap[child + 1])) child++;
                    if (!Before(id, heap[child])) break;
                    heap[i] = heap[child];
                    i = child;
                }
                heap[i] = id;
            }
        }
        var result = heap.AsSpan(0, size);
        result.Sort(_byLogitDescending);
        if (!ReferenceEquals(heap, destination)) result.CopyTo(destination);
        return size;
    }
}
