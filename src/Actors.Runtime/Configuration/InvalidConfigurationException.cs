namespace Actors.Runtime.Configuration;

/// <summary>An invalid runtime configuration; the message names the key, the bad value and what is allowed.</summary>
public sealed class InvalidConfigurationException(string message) : Exception(message);
