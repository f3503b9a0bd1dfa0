namespace Actors.Server;

/// <summary>
/// The names a request's "model" may use: the served name and the configured aliases
/// (actors-server.model-aliases). A request without a model is served (as vLLM does); an unknown one is
/// OpenAI's 404 model_not_found.
/// </summary>
public sealed class ModelNames(string served, IReadOnlyList<string> aliases)
{
    public string Served { get; } = served;
    public IReadOnlyList<string> All { get; } = [served, .. aliases.Where(a => a != served).Distinct()];

    public bool Accepts(string? requested) => requested is null || All.Contains(requested, StringComparer.Ordinal);

    public string NotFoundMessage(string requested) =>
        $"The model '{requested}' does not exist: this server serves {string.Join(", ", All.Select(n => $"'{n}'"))} (aliases: actors-server.model-aliases)";
}
