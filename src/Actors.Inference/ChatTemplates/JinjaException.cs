namespace Actors.Inference.ChatTemplates;

/// <summary>A template that cannot be parsed or rendered: the message names the construct and its position.</summary>
public sealed class JinjaException(string message) : Exception(message)
{
    internal static JinjaException At(SourcePosition position, string message) => new($"{message} at {position}");
}

/// <summary>Line and column (1-based) in the template source.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}

/// <summary>Raised by the template's own raise_exception(...): the template refuses the conversation.</summary>
public sealed class TemplateRaisedException(string message) : Exception(message);
