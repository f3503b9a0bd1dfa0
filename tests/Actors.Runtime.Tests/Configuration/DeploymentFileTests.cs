using Akka.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Runtime.Tests.Configuration;

/// <summary>Every deployment in config/ parses and validates (model files and GPUs are not needed for that).</summary>
public sealed class DeploymentFileTests
{
    public static TheoryData<string> Files() => new(Directory.GetFiles(RepositoryConfig.Directory, "*.conf").Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Files))]
    public void Deployment_file_builds_valid_settings(string file)
    {
        var config = RuntimeSettings.LoadFile(RepositoryConfig.File(file));
        var settings = RuntimeSettings.Create(config);
        Assert.NotEmpty(settings.Devices);
    }
}
