using System.Text.Json.Nodes;

namespace Actors.Inference.ChatTemplates;

/// <summary>
/// A parsed Jinja template (the subset chat templates use; see <see cref="JinjaParser"/> and
/// <see cref="JinjaBuiltins"/>). Parse once, render many times; thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly List<Node> _nodes;

    /// <summary>Parses <paramref name="source"/>; a <see cref="JinjaException"/> names an unsupported construct and its position.</summary>
    public JinjaTemplate(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _nodes = JinjaParser.Parse(source);
    }

    /// <summary>Renders with the given variables (JSON values: objects, arrays, strings, numbers, booleans, null).</summary>
    public string Render(IReadOnlyDictionary<string, JsonNode?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var scope = new JinjaInterpreter.Scope(null);
        foreach (var (name, value) in variables) scope.Set(name, JinjaValues.FromJson(value));
        return JinjaInterpreter.Render(_nodes, scope);
    }
}
