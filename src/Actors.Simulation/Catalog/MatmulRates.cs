namespace Actors.Simulation.Catalog;

/// <summary>
/// A matmul kernel's measured rates on rows of <paramref name="RowLength"/> weights (the inner
/// dimension k; 0: any length). <paramref name="TiledFlops"/>: FLOP/s each further whole tile adds
/// while the weights sit in cache; <paramref name="SingleFlops"/>: the same for each further token run
/// alone; <paramref name="StreamBandwidth"/>: weight bytes/s of one pass from DRAM (0: not given, the
/// device's plain bandwidth applies).
/// </summary>
public sealed record MatmulRates(int RowLength, double TiledFlops, double SingleFlops, double StreamBandwidth = 0);
