using Actors.Inference.Model;

namespace Actors.Simulation.Catalog;

/// <summary>
/// Model shapes and weight formats from config/catalog/models.conf (embedded in this assembly).
/// Shapes become <see cref="LlamaConfig"/> instances so the runtime can run them on simulated devices.
/// </summary>
public sealed class ModelCatalog
{
    public const string EmbeddedResourceName = "Actors.Simulation.catalog.models.conf";

    private static readonly Lazy<ModelCatalog> s_default = new(() => Parse(HoconSections.ReadEmbedded(EmbeddedResourceName), "models.conf (embedded)"));

    public IReadOnlyDictionary<string, ModelShape> Models { get; }
    public IReadOnlyDictionary<string, WeightFormat> Formats { get; }

    private ModelCatalog(Dictionary<string, ModelShape> models, Dictionary<string, WeightFormat> formats)
    {
        Models = models;
        Formats = formats;
    }

    public static ModelCatalog Default => s_default.Value;

    public static ModelCatalog Load(string path) => Parse(File.ReadAllText(path), path);

    public static ModelCatalog Parse(string hocon, string source = "model catalog")
    {
        var root = HoconSections.Parse(hocon, source);
        var models = new Dictionary<string, ModelShape>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, f) in HoconSections.Children(root, "models")) models[name] = new ModelShape(name, ReadConfig(f));
        var formats = new Dictionary<string, WeightFormat>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, f) in HoconSections.Children(root, "weight-formats")) formats[name] = ReadFormat(name, f);
        if (models.Count == 0) throw new CatalogException($"{source}: section 'models' is missing or empty");
        if (formats.Count == 0) throw new CatalogException($"{source}: section 'weight-formats' is missing or empty");
        return new ModelCatalog(models, formats);
    }

    public ModelShape Model(string name) => CatalogNames.TryFind(Models, name, out var m) ? m
        : throw new CatalogException($"unknown model '{name}' (known: {HardwareCatalog.Known(Models.Keys)})");

    public WeightFormat Format(string name) => CatalogNames.TryFind(Formats, name, out var q) ? q
        : throw new CatalogException($"unknown weight format '{name}' (known: {HardwareCatalog.Known(Formats.Keys)})");

    private static LlamaConfig ReadConfig(HoconFields f)
    {
        int dim = f.RequiredInt("dim");
        int heads = f.RequiredInt("heads");
        int kvHeads = f.RequiredInt("kv-heads");
        if (dim % heads != 0 && !f.Has("head-dim"))
            throw new CatalogException($"{f.Path}.dim = {dim} is not divisible by heads = {heads}; give head-dim");
        int headDim = f.Has("head-dim") ? f.RequiredInt("head-dim") : dim / heads;
        if (heads % kvHeads != 0)
            throw new CatalogException($"{f.Path}.heads = {heads} is not a multiple of kv-heads = {kvHeads}");
        int context = f.RequiredInt("context");
        // Only what KV sizing needs of other architectures: which layers slide, and over how many positions.
        string arch = f.OptionalString("architecture") ?? "llama";
        var traits = ArchitectureTraits.Find(arch)
            ?? throw new CatalogException($"{f.Path}.architecture = {arch} is not one of {ArchitectureTraits.SupportedList}");
        int window = f.Has("sliding-window") ? f.RequiredInt("sliding-window") : 0;
        if (window > 0 && traits.SlidingPattern == 0)
            throw new CatalogException($"{f.Path}.sliding-window = {window}, but {arch} has no sliding-window layers");
        var config = new LlamaConfig
        {
            Architecture = arch,
            Traits = traits,
            SlidingWindow = window,
            EmbeddingLength = dim,
            BlockCount = f.RequiredInt("layers"),
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = f.RequiredInt("ffn"),
            VocabSize = f.RequiredInt("vocab"),
            ContextLength = context,
            RmsNormEps = (float)f.OptionalDouble("rms-norm-eps", 1e-5, 1e-12, 0.1),
            Rope = new RopeParameters(headDim, (float)f.OptionalDouble("rope-theta", 10000, 1.0001), RopeScalingType.None,
                FreqScale: 1f, OriginalContextLength: context, ExtFactor: 0f, AttnFactor: 1f, BetaFast: 32f, BetaSlow: 1f, FreqFactors: null),
        };
        try
        {
            config.Validate(f.Path);
        }
        catch (ModelFormatException e)
        {
            throw new CatalogException(e.Message);
        }
        return config;
    }

    private static WeightFormat ReadFormat(string name, HoconFields f)
    {
        if (f.Has("bits-per-weight")) return new WeightFormat(name, f.RequiredDouble("bits-per-weight", 1, 64));
        return WeightFormat.Blocks(name, f.RequiredInt("block", 1, 4096), f.RequiredInt("block-bytes", 1, 1 << 20));
    }
}
