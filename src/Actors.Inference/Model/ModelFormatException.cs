namespace Actors.Inference.Model;

/// <summary>A model whose metadata or tensors do not describe a model this engine can run; the message says why.</summary>
public sealed class ModelFormatException(string message) : Exception(message);
