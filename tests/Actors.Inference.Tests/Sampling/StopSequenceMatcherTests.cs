using System.Text;
using Actors.Inference.Sampling;
using Actors.Inference.Synthetic;
using Xunit;

namespace Actors.Inference.Tests.Sampling;

public sealed class StopSequenceMatcherTests
{
    [Fact]
    public void A_stop_string_split_over_tokens_is_held_back_then_cut()
    {
        var m = new StopSequenceMatcher(["END"]);
        Assert.Equal(new StopMatch("Hel", false, null), m.Append("Hel"));
        Assert.Equal(new StopMatch("lo ", false, null), m.Append("lo E"));
        Assert.Equal(1, m.HeldBackLength);
        Assert.Equal(new StopMatch("", false, null), m.Append("N"));
        Assert.Equal(2, m.HeldBackLength);
        Assert.Equal(new StopMatch("", true, "END"), m.Append("D and more"));
        Assert.True(m.Stopped);
        Assert.Throws<InvalidOperationException>(() => m.Append("x"));
    }

    [Fact]
    public void A_false_start_is_released_when_the_next_text_rules_it_out()
    {
        var m = new StopSequenceMatcher(["</answer>"]);
        Assert.Equal("a ", m.Append("a </ans").Text);
        Assert.Equal("", m.Append("wer").Text); // "</answer" could still become "</answer>"
        Assert.Equal("</answers!", m.Append("s!").Text);
        Assert.Equal(0, m.HeldBackLength);
    }

    [Fact]
    public void Text_before_the_stop_in_the_same_delta_is_emitted()
    {
        var m = new StopSequenceMatcher(["\n\n"]);
        Assert.Equal(new StopMatch("first line", true, "\n\n"), m.Append("first line\n\nsecond"));
    }

    [Fact]
    public void The_stop_that_completes_first_wins()
    {
        var m = new StopSequenceMatcher(["abcd", "bc"]);
        Assert.Equal(new StopMatch("xa", true, "bc"), m.Append("xabcd"));
        var held = new StopSequenceMatcher(["abcd", "cd"]);
        Assert.Equal("", held.Append("ab").Text);
        Assert.Equal(new StopMatch("", true, "abcd"), held.Append("cd")); // both end together: the earlier start
    }

    [Fact]
    public void Flush_releases_held_text_and_no_stops_passes_everything()
    {
        var m = new StopSequenceMatcher(["STOP"]);
        Assert.Equal("go ", m.Append("go ST").Text);
        Assert.Equal("ST", m.Flush());
        var none = new StopSequenceMatcher([]);
        Assert.Equal(new StopMatch("anything STOP", false, null), none.Append("anything STOP"));
        Assert.Throws<ArgumentException>(() => new StopSequenceMatcher(["a", ""]));
    }

    [Fact]
    public void Any_chunking_of_a_text_gives_the_same_output_as_cutting_the_whole_text()
    {
        string[] stops = ["ab", "bba", "xyzzy", "\n\n", "😀!"];
        var rng = new DeterministicRandom(17);
        const string alphabet = "abxyz \n😀!";
        for (int trial = 0; trial < 3000; trial++)
        {
            var sb = new StringBuilder();
            int len = rng.NextInt(30);
            for (int i = 0; i < len; i++)
            {
                int k = rng.NextInt(alphabet.Length);
                if (char.IsSurrogate(alphabet[k])) sb.Append("😀"); else sb.Append(alphabet[k]);
            }
            string text = sb.ToString();

            // Expected: everything before the stop occurrence that ends first.
            int cutEnd = int.MaxValue, cut = text.Length;
            string? expectedStop = null;
            foreach (var s in stops)
            {
                int at = text.IndexOf(s, StringComparison.Ordinal);
                if (at >= 0 && (at + s.Length < cutEnd || (at + s.Length == cutEnd && at < cut))) { cutEnd = at + s.Length; cut = at; expectedStop = s; }
            }

            var m = new StopSequenceMatcher(stops);
            var emitted = new StringBuilder();
            string? stop = null;
            for (int pos = 0; pos < text.Length && stop == null;)
            {
                int n = Math.Min(text.Length - pos, 1 + rng.NextInt(5));
                var r = m.Append(text.Substring(pos, n));
                emitted.Append(r.Text);
                if (r.Stopped) stop = r.StopSequence;
                pos += n;
            }
            if (stop == null) emitted.Append(m.Flush());
            Assert.Equal(text[..cut], emitted.ToString());
            Assert.Equal(expectedStop, stop);
        }
    }
}
