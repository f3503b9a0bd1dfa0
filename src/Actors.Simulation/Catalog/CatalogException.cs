namespace Actors.Simulation.Catalog;

/// <summary>A catalog (hardware or model shapes) is malformed or a name is unknown; the message names the key.</summary>
public sealed class CatalogException(string message) : Exception(message);
