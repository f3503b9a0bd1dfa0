using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Actors.Cuda.Compilation;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// The system C++ compiler, for host builds of the kernels' `__host__ __device__` headers (g++ by default,
/// ACTORS_CXX to choose another). CI installs g++ (.ci/run); a missing compiler fails the tests that need
/// it, unless ACTORS_SKIP_HOST_CXX=1.
/// </summary>
public static class HostCompiler
{
    public const string CompilerVariable = "ACTORS_CXX", SkipVariable = "ACTORS_SKIP_HOST_CXX";

    public static string Command => Environment.GetEnvironmentVariable(CompilerVariable) is { Length: > 0 } cxx ? cxx : "g++";

    /// <summary>The compiler's full path, or null when it is not on PATH.</summary>
    public static string? Find()
    {
        string cmd = Command;
        if (Path.IsPathRooted(cmd)) return File.Exists(cmd) ? cmd : null;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, cmd);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static bool SkipRequested => Environment.GetEnvironmentVariable(SkipVariable) == "1";

    /// <summary>
    /// Compiles <paramref name="source"/> (a file copied next to the test assembly) with the embedded kernels/*.cuh
    /// headers on its include path, into a temporary folder keyed by the content; returns the executable.
    /// </summary>
    public static string Build(string source, params string[] flags)
    {
        string cxx = Find() ?? throw new InvalidOperationException(
            $"no C++ compiler '{Command}' on PATH (install g++, or set {CompilerVariable}; {SkipVariable}=1 skips these tests)");
        string text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, source));
        var headers = KernelSources.Embedded.Headers;
        var key = new StringBuilder(cxx).Append('\0').Append(string.Join(' ', flags)).Append('\0').Append(text);
        foreach (var (name, body) in headers) key.Append('\0').Append(name).Append('\0').Append(body);
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..16];
        string dir = Path.Combine(Path.GetTempPath(), "actors-host-cxx-" + hash);
        string exe = Path.Combine(dir, Path.GetFileNameWithoutExtension(source));
        if (File.Exists(exe)) return exe;

        string work = dir + "." + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(work);
        foreach (var (name, body) in headers) File.WriteAllText(Path.Combine(work, name), body);
        string src = Path.Combine(work, Path.GetFileName(source));
        File.WriteAllText(src, text);
        var (code, _, err) = Run(cxx, [.. flags, "-I", work, "-o", Path.Combine(work, Path.GetFileName(exe)), src], []);
        if (code != 0) throw new InvalidOperationException($"{cxx} failed to compile {source} (exit {code}):\n{err}");
        try { Directory.Move(work, dir); }
        catch (IOException) when (File.Exists(exe)) { Directory.Delete(work, recursive: true); } // another process won the race
        return exe;
    }

    /// <summary>Runs a program with <paramref name="stdin"/> as its input; returns its exit code, stdout bytes and stderr.</summary>
    public static (int Code, byte[] Stdout, string Stderr) Run(string program, string[] args, byte[] stdin)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = new MemoryStream();
        var copyOut = p.StandardOutput.BaseStream.CopyToAsync(output);
        var readErr = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(60_000))
        {
            p.Kill();
            throw new TimeoutException($"{program} did not finish within 60 s");
        }
        copyOut.Wait();
        return (p.ExitCode, output.ToArray(), readErr.Result);
    }
}

/// <summary>A theory that needs the host C++ compiler; fails when it is missing unless ACTORS_SKIP_HOST_CXX=1.</summary>
public sealed class HostCompilerTheoryAttribute : TheoryAttribute
{
    public HostCompilerTheoryAttribute()
    {
        if (HostCompiler.SkipRequested && HostCompiler.Find() == null)
            Skip = $"{HostCompiler.SkipVariable}=1 and no C++ compiler '{HostCompiler.Command}' on PATH";
    }
}
