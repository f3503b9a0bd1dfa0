using Akka.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Runtime.Tests.Configuration;

/// <summary>Every deployment in config/ parses and validates (model files and GPUs are not needed for that).</summary>
public sealed class DeploymentFileTests
{
    private static string ConfigDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !Directory.Exists(Path.Combine(dir.FullName, "config", "catalog"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("config/ not found above the test binaries"), "config");
        }
    }

    public static TheoryData<string> Files() => new(Directory.GetFiles(ConfigDir, "*.conf").Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Files))]
    public void Deployment_file_builds_valid_settings(string file)
    {
        var config = RuntimeSettings.LoadFile(Path.Combine(ConfigDir, file));
        var settings = RuntimeSettings.Create(config);
        Assert.NotEmpty(settings.Devices);
    }
}
