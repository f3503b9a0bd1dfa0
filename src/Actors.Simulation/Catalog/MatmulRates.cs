namespace Actors.Simulation.Catalog;

/// <summary>
/// A matmul kernel's measured rates on rows of <paramref name="RowLength"/> weights (the inner
/// dimension k; 0: any length). <paramref name="TiledFlops"/>: FLOP/s each further whole tile adds
/// while the weights sit in cache; <paramref name="SingleFlops"/>: the same for each further token run
/// alone; <paramref name="StreamBandwidth"/>: weight bytes/s of one pass from DRAM (0: not given, the
/// device's plain bandwidth applies); <paramref name="TileStreamFlops"/>: FLOP/s of one whole tile's
/// pass over weights coming from DRAM (0: not given, the read and the tile's in-cache arithmetic are
/// assumed to overlap). One core cannot hide its arithmetic behind its own DRAM stream, so the first
/// tile is measured as a whole rather than composed.
/// </summary>
public sealed record MatmulRates(int RowLength, double TiledFlops, double SingleFlops, double StreamBandwidth = 0, double TileStreamFlops = 0);
