using Actors.Simulation.Planning;

namespace Actors.Cli.Plan;

/// <summary>
/// The layouts a user pinned with --tp, --pp and --replicas: any degree not given is free. When the
/// pinned degrees match none of the planner's layouts (e.g. 2 replicas of one GPU on a 4-GPU rig), the
/// exact layout asked for is estimated anyway, so the user hears why it does or does not fit.
/// </summary>
public sealed record LayoutFilter(int? TensorParallel, int? PipelineParallel, int? Replicas)
{
    public static LayoutFilter Any { get; } = new(null, null, null);

    public bool IsPinned => TensorParallel is not null || PipelineParallel is not null || Replicas is not null;

    public bool Matches(Layout layout)
        => (TensorParallel is null || layout.TensorParallel == TensorParallel)
           && (PipelineParallel is null || layout.PipelineParallel == PipelineParallel)
           && (Replicas is null || layout.Replicas == Replicas);

    public IReadOnlyList<Layout> Apply(IReadOnlyList<Layout> layouts)
    {
        var matching = layouts.Where(Matches).ToArray();
        return matching.Length > 0 || !IsPinned ? matching : [new Layout(TensorParallel ?? 1, PipelineParallel ?? 1, Replicas ?? 1)];
    }

    public override string ToString()
        => IsPinned ? string.Join(" ", new[] { TensorParallel is { } t ? $"tp{t}" : null, PipelineParallel is { } p ? $"pp{p}" : null, Replicas is { } r ? $"x{r}" : null }.Where(s => s != null))
            : "any layout";
}
