namespace Actors.Server.Soak;

/// <summary>What a soak run does: how many requests, how many at once, and which fractions of them misbehave.</summary>
public sealed record SoakOptions
{
    public int Requests { get; init; } = 1000;
    public int Concurrency { get; init; } = 16;
    /// <summary>Fraction of requests that stream and drop the connection after a few events.</summary>
    public double DisconnectRate { get; init; } = 0.02;
    /// <summary>Fraction of requests the client cancels after a random 0-80 ms (before or during generation).</summary>
    public double CancelRate { get; init; } = 0.05;
    /// <summary>Fraction of requests that stream and read slowly (a pause between events).</summary>
    public double SlowReaderRate { get; init; } = 0.02;
    /// <summary>Fraction of requests with an invalid body (each must get a 400).</summary>
    public double BadRequestRate { get; init; } = 0.02;
    public int MaxTokens { get; init; } = 32;
    public int Seed { get; init; } = 1;
    /// <summary>A request without a terminal reply within this long counts as lost.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public string? ApiKey { get; init; }
    /// <summary>
    /// About this fraction of requests meets an injected device fault (a step that throws, NaN logits, a
    /// step that hangs past the watchdog): needs the server in-process, configured by <see cref="FaultInjectionHocon"/>.
    /// </summary>
    public double FaultRate { get; init; }

    /// <summary>
    /// actors-runtime.fault-injection (and a step watchdog) so that about <see cref="FaultRate"/> of the
    /// requests meet a fault. Faults are drawn per device step: a request spans about (max tokens + 1) / 2
    /// decode steps plus its prefill, and a failed step fails every request batched in it, so the per-step
    /// rate is the fraction divided by that step count. Of the faults: half throw, three tenths spoil one
    /// sequence's logits with NaN, one fifth hang the device for 4 s past a 2 s watchdog (a hung replica
    /// leaves rotation until its device answers: with one replica, requests meanwhile get 503).
    /// </summary>
    public string FaultInjectionHocon()
    {
        if (FaultRate <= 0) return "";
        double perStep = FaultRate / ((MaxTokens + 1) / 2.0 + 1);
        static string R(double x) => x.ToString("0.#########", System.Globalization.CultureInfo.InvariantCulture);
        return "actors-runtime.scheduler.step-timeout = 2s\n" +
            $"actors-runtime.fault-injection {{ enabled = on, seed = {Seed}, step-error-rate = {R(0.5 * perStep)}, nan-logits-rate = {R(0.3 * perStep)}, " +
            $"hang-rate = {R(0.2 * perStep)}, hang-time = 4s }}";
    }

    public void Validate()
    {
        if (Requests < 1) throw new ArgumentException($"requests = {Requests} must be at least 1");
        if (Concurrency < 1) throw new ArgumentException($"concurrency = {Concurrency} must be at least 1");
        if (MaxTokens < 1) throw new ArgumentException($"max tokens = {MaxTokens} must be at least 1");
        double sum = DisconnectRate + CancelRate + SlowReaderRate + BadRequestRate;
        foreach (var (name, rate) in new[] { ("disconnect", DisconnectRate), ("cancel", CancelRate), ("slow-reader", SlowReaderRate), ("bad-request", BadRequestRate), ("fault", FaultRate) })
            if (!(rate >= 0 && rate <= 1)) throw new ArgumentException($"{name} rate = {rate} must be between 0 and 1");
        if (sum > 1) throw new ArgumentException($"the rates add up to {sum}, more than 1");
    }
}
