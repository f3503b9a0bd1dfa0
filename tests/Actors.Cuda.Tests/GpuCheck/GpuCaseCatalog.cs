using System.Globalization;
using System.Reflection;
using Xunit.Sdk;

namespace Actors.Cuda.Tests.GpuCheck;

/// <summary>
/// One GPU test case: a [GpuFact] method, or one data row of a [GpuTheory]. <see cref="Id"/> is
/// "Class.Method" or "Class.Method#row" (row = position in the theory's data, from 0).
/// </summary>
public sealed record GpuCase(string Id, string Group, MethodInfo Method, object?[] Arguments)
{
    public string MethodId => $"{Method.DeclaringType!.Name}.{Method.Name}";

    /// <summary>"GpuOpTests.RmsNorm_scales_each_row_by_its_inverse_rms(3, 33)".</summary>
    public string Display => Arguments.Length == 0 ? MethodId : $"{MethodId}({string.Join(", ", Arguments.Select(Format))})";

    private static string Format(object? value) => value switch
    {
        null => "null",
        string s => '"' + s + '"',
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>
/// Finds the GPU test cases of this assembly by the same attributes and data that xunit uses, so the
/// GPU check runs exactly the tests `dotnet test` runs, without xunit's runner. Group = the class name
/// without "Gpu" and "Tests" in lower case ("op" for GpuOpTests, "stage" for GpuStageTests).
/// </summary>
public static class GpuCaseCatalog
{
    public static IReadOnlyList<GpuCase> All(Assembly? assembly = null)
    {
        var cases = new List<GpuCase>();
        foreach (var type in (assembly ?? typeof(GpuCaseCatalog).Assembly).GetTypes().Where(t => t.IsClass && !t.IsAbstract).OrderBy(t => t.Name, StringComparer.Ordinal))
        foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly).OrderBy(m => m.MetadataToken))
        {
            string group = GroupOf(type);
            if (method.GetCustomAttribute<GpuFactAttribute>() != null)
            {
                cases.Add(new GpuCase($"{type.Name}.{method.Name}", group, method, []));
            }
            else if (method.GetCustomAttribute<GpuTheoryAttribute>() != null)
            {
                int row = 0;
                foreach (var data in method.GetCustomAttributes<DataAttribute>())
                foreach (object?[] args in data.GetData(method))
                    cases.Add(new GpuCase($"{type.Name}.{method.Name}#{row++}", group, method, Convert(method, args)));
            }
        }
        return cases;
    }

    public static string GroupOf(Type type)
    {
        string name = type.Name;
        if (name.StartsWith("Gpu", StringComparison.Ordinal)) name = name[3..];
        if (name.EndsWith("Tests", StringComparison.Ordinal)) name = name[..^5];
        return name.ToLowerInvariant();
    }

    /// <summary>The cases named by <paramref name="ids"/> (exact ids, or "Class.Method" for every row of it), in catalog order.</summary>
    public static IReadOnlyList<GpuCase> Select(IReadOnlyList<GpuCase> all, IEnumerable<string> ids)
    {
        var wanted = ids.ToHashSet(StringComparer.Ordinal);
        var chosen = all.Where(c => wanted.Contains(c.Id) || wanted.Contains(c.MethodId)).ToList();
        var unknown = wanted.Where(id => !all.Any(c => c.Id == id || c.MethodId == id)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"no GPU test case {string.Join(", ", unknown)} (see the 'list' command)");
        return chosen;
    }

    /// <summary>Converts data values to the parameter types the way xunit does for the common cases (ints to longs/doubles, enums).</summary>
    private static object?[] Convert(MethodInfo method, object?[] args)
    {
        var parameters = method.GetParameters();
        if (parameters.Length != args.Length)
            throw new InvalidOperationException($"{method.DeclaringType!.Name}.{method.Name} takes {parameters.Length} arguments, its data row has {args.Length}");
        var result = new object?[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var type = parameters[i].ParameterType;
            object? value = args[i];
            result[i] = value == null || type.IsInstanceOfType(value) ? value
                : type.IsEnum ? Enum.ToObject(type, value)
                : System.Convert.ChangeType(value, type, CultureInfo.InvariantCulture);
        }
        return result;
    }
}
