namespace Actors.Inference.Gguf;

/// <summary>A GGUF file that is truncated, malformed or not supported; the message names what and where.</summary>
public sealed class GgufFormatException(string message) : Exception(message);
