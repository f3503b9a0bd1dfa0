using System.Globalization;

namespace Actors.Inference.Gguf;

/// <summary>
/// One metadata value: a scalar, a string, or an array. Arrays of scalars are stored as typed
/// .NET arrays (uint[], float[], ...), arrays of strings as string[], nested arrays as GgufValue[].
/// </summary>
public sealed class GgufValue
{
    public GgufValueType Type { get; }
    /// <summary>For arrays, the element type; otherwise equal to <see cref="Type"/>.</summary>
    public GgufValueType ElementType { get; }
    public object Value { get; }

    public GgufValue(GgufValueType type, object value, GgufValueType? elementType = null)
    {
        Type = type;
        Value = value;
        ElementType = elementType ?? type;
    }

    public bool IsArray => Type == GgufValueType.Array;

    public int ArrayLength => Value is Array a ? a.Length : throw new InvalidOperationException("not an array");

    /// <summary>Any integer type widened to long (u32 and u64 both occur for counts in the wild).</summary>
    public bool TryGetInt64(out long result)
    {
        switch (Value)
        {
            case byte v: result = v; return true;
            case sbyte v: result = v; return true;
            case ushort v: result = v; return true;
            case short v: result = v; return true;
            case uint v: result = v; return true;
            case int v: result = v; return true;
            case ulong v when v <= long.MaxValue: result = (long)v; return true;
            case long v: result = v; return true;
            case bool v: result = v ? 1 : 0; return true;
            default: result = 0; return false;
        }
    }

    public bool TryGetDouble(out double result)
    {
        switch (Value)
        {
            case float f: result = f; return true;
            case double d: result = d; return true;
            default:
                if (TryGetInt64(out long l)) { result = l; return true; }
                result = 0;
                return false;
        }
    }

    public override string ToString() => Value switch
    {
        string s => s,
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        Array a => $"[{ElementType} x {a.Length}]",
        _ => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "",
    };
}
