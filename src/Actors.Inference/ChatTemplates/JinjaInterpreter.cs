using System.Text;

namespace Actors.Inference.ChatTemplates;

/// <summary>
/// Runs a parsed template. Scoping is Jinja's: a for loop's body runs in a scope of its own per
/// iteration (so `set` inside a loop does not leak; namespace() objects carry state out), a macro runs in a
/// scope under the one it was defined in, `if` makes no scope.
/// </summary>
internal sealed class JinjaInterpreter
{
    private enum Flow { Normal, Break, Continue }

    internal sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);
        public Scope? Parent { get; } = parent;

        public bool TryGet(string name, out object? value)
        {
            for (var s = this; s != null; s = s.Parent)
                if (s._vars.TryGetValue(name, out value)) return true;
            value = null;
            return false;
        }

        public void Set(string name, object? value) => _vars[name] = value;
    }

    private readonly StringBuilder _out = new();

    public static string Render(List<Node> template, Scope globals)
    {
        var interpreter = new JinjaInterpreter();
        interpreter.Execute(template, globals);
        return interpreter._out.ToString();
    }

    private Flow Execute(List<Node> nodes, Scope scope)
    {
        foreach (var node in nodes)
        {
            var flow = Execute(node, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Node node, Scope scope)
    {
        switch (node)
        {
            case TextNode t:
                _out.Append(t.Text);
                return Flow.Normal;
            case OutputNode o:
                _out.Append(JinjaValues.Str(Evaluate(o.Value, scope)));
                return Flow.Normal;
            case IfNode i:
                return Execute(JinjaValues.Truthy(Evaluate(i.Condition, scope)) ? i.Then : i.Else, scope);
            case ForNode f:
                ExecuteFor(f, scope);
                return Flow.Normal;
            case SetNode s:
                ExecuteSet(s, scope);
                return Flow.Normal;
            case MacroNode m:
                scope.Set(m.Name, MakeMacro(m, scope));
                return Flow.Normal;
            case BreakNode:
                return Flow.Break;
            case ContinueNode:
                return Flow.Continue;
            default:
                throw JinjaException.At(node.Position, $"unsupported statement {node.GetType().Name}");
        }
    }

    private void ExecuteFor(ForNode f, Scope scope)
    {
        var iterable = Evaluate(f.Iterable, scope);
        var items = Iterate(iterable, f.Iterable.Position).ToList();
        if (f.Filter != null)
            items = items.Where(item => JinjaValues.Truthy(Evaluate(f.Filter, Bind(f, item, new Scope(scope))))).ToList();
        if (items.Count == 0)
        {
            Execute(f.Else, scope);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            var body = Bind(f, items[i], new Scope(scope));
            var loop = new OrderedDictionary<string, object?>
            {
                ["index"] = (long)(i + 1), ["index0"] = (long)i, ["first"] = i == 0, ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
                ["previtem"] = i > 0 ? items[i - 1] : Undefined.Instance, ["nextitem"] = i + 1 < items.Count ? items[i + 1] : Undefined.Instance,
            };
            int index = i;
            loop["cycle"] = (JinjaCallable)((args, _) => args.Count == 0 ? Undefined.Instance : args[index % args.Count]);
            body.Set("loop", loop);
            if (Execute(f.Body, body) == Flow.Break) break;
        }
    }

    private static Scope Bind(ForNode f, object? item, Scope scope)
    {
        if (f.Targets.Count == 1) { scope.Set(f.Targets[0], item); return scope; }
        if (item is not List<object?> parts || parts.Count != f.Targets.Count)
            throw JinjaException.At(f.Position, $"cannot unpack {JinjaValues.TypeName(item)} into {f.Targets.Count} loop variables");
        for (int k = 0; k < parts.Count; k++) scope.Set(f.Targets[k], parts[k]);
        return scope;
    }

    internal static IEnumerable<object?> Iterate(object? value, SourcePosition at) => value switch
    {
        List<object?> list => list,
        OrderedDictionary<string, object?> dict => dict.Keys,
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()),
        Undefined => [],
        _ => throw JinjaException.At(at, $"cannot iterate over {JinjaValues.TypeName(value)}"),
    };

    private void ExecuteSet(SetNode s, Scope scope)
    {
        object? value;
        if (s.Body != null)
        {
            var inner = new JinjaInterpreter();
            inner.Execute(s.Body, scope);
            value = inner._out.ToString();
        }
        else value = Evaluate(s.Value!, scope);

        if (s.Attribute != null)
        {
            if (!scope.TryGet(s.Targets[0], out var target) || target is not JinjaNamespace ns)
                throw JinjaException.At(s.Position, $"cannot set attribute '{s.Attribute}' on '{s.Targets[0]}', which is not a namespace");
            ns.Values[s.Attribute] = value;
            return;
        }
        if (s.Targets.Count == 1) { scope.Set(s.Targets[0], value); return; }
        if (value is not List<object?> parts || parts.Count != s.Targets.Count)
            throw JinjaException.At(s.Position, $"cannot unpack {JinjaValues.TypeName(value)} into {s.Targets.Count} names");
        for (int k = 0; k < parts.Count; k++) scope.Set(s.Targets[k], parts[k]);
    }

    private JinjaCallable MakeMacro(MacroNode m, Scope definedIn) => (args, kwargs) =>
    {
        var scope = new Scope(definedIn);
        if (args.Count > m.Parameters.Count)
            throw JinjaException.At(m.Position, $"macro '{m.Name}' takes {m.Parameters.Count} arguments but got {args.Count}");
        for (int k = 0; k < m.Parameters.Count; k++)
        {
            var (name, fallback) = m.Parameters[k];
            object? value = k < args.Count ? args[k]
                : kwargs.FindIndex(kw => kw.Name == name) is int at and >= 0 ? kwargs[at].Value
                : fallback != null ? Evaluate(fallback, scope) : Undefined.Instance;
            scope.Set(name, value);
        }
        var inner = new JinjaInterpreter();
        inner.Execute(m.Body, scope);
        return inner._out.ToString();
    };

    // ---------------------------------------------------------------- expressions

    internal object? Evaluate(Expr e, Scope scope)
    {
        switch (e)
        {
            case LiteralExpr l:
                return l.Value;
            case NameExpr n:
                return scope.TryGet(n.Name, out var v) ? v : JinjaBuiltins.Global(n.Name) ?? Undefined.Instance;
            case ListExpr l:
                return l.Items.Select(x => Evaluate(x, scope)).ToList();
            case DictExpr d:
            {
                var dict = new OrderedDictionary<string, object?>();
                foreach (var (k, val) in d.Items)
                {
                    var key = Evaluate(k, scope);
                    dict[key as string ?? JinjaValues.Str(key)] = Evaluate(val, scope);
                }
                return dict;
            }
            case AttributeExpr a:
                return JinjaBuiltins.GetAttribute(Evaluate(a.Target, scope), a.Name, a.Position);
            case IndexExpr i:
                return JinjaBuiltins.GetItem(Evaluate(i.Target, scope), Evaluate(i.Index, scope), i.Position);
            case SliceExpr s:
                return JinjaBuiltins.Slice(Evaluate(s.Target, scope), Optional(s.Start, scope), Optional(s.Stop, scope), Optional(s.Step, scope), s.Position);
            case CallExpr c:
            {
                var callee = Evaluate(c.Callee, scope);
                if (callee is not JinjaCallable function)
                    throw JinjaException.At(c.Position, $"{Describe(c.Callee)} is {JinjaValues.TypeName(callee)}, not a function");
                var args = c.Args.Select(x => Evaluate(x, scope)).ToList();
                var kwargs = c.Kwargs.Select(kw => (kw.Name, Evaluate(kw.Value, scope))).ToList();
                try
                {
                    return function(args, kwargs);
                }
                catch (JinjaException ex) when (!ex.Message.Contains(" at line ", StringComparison.Ordinal))
                {
                    throw JinjaException.At(c.Position, ex.Message); // a global such as range() names no position itself
                }
            }
            case FilterExpr f:
                return JinjaBuiltins.Filter(f.Name, Evaluate(f.Value, scope), f.Args.Select(x => Evaluate(x, scope)).ToList(),
                    f.Kwargs.Select(kw => (kw.Name, Evaluate(kw.Value, scope))).ToList(), f.Position);
            case TestExpr t:
            {
                bool result = JinjaBuiltins.Test(t.Name, Evaluate(t.Value, scope), t.Args.Select(x => Evaluate(x, scope)).ToList(), t.Position);
                return t.Negated ? !result : result;
            }
            case UnaryExpr u:
            {
                var operand = Evaluate(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !JinjaValues.Truthy(operand),
                    "-" => operand switch { long l => (object)(-l), double d => -d, _ => throw JinjaException.At(u.Position, $"cannot negate {JinjaValues.TypeName(operand)}") },
                    _ => operand,
                };
            }
            case BinaryExpr b:
                return Binary(b, scope);
            case ConditionalExpr c:
                return JinjaValues.Truthy(Evaluate(c.Condition, scope)) ? Evaluate(c.Then, scope)
                    : c.Else != null ? Evaluate(c.Else, scope) : Undefined.Instance;
            default:
                throw JinjaException.At(e.Position, $"unsupported expression {e.GetType().Name}");
        }
    }

    private object? Optional(Expr? e, Scope scope) => e is null ? null : Evaluate(e, scope);

    private static string Describe(Expr e) => e switch
    {
        NameExpr n => $"'{n.Name}'",
        AttributeExpr a => $"'{a.Name}'",
        _ => "the called value",
    };

    private object? Binary(BinaryExpr b, Scope scope)
    {
        if (b.Op == "and") { var l = Evaluate(b.Left, scope); return JinjaValues.Truthy(l) ? Evaluate(b.Right, scope) : l; }
        if (b.Op == "or") { var l = Evaluate(b.Left, scope); return JinjaValues.Truthy(l) ? l : Evaluate(b.Right, scope); }
        var left = Evaluate(b.Left, scope);
        var right = Evaluate(b.Right, scope);
        switch (b.Op)
        {
            case "==": return JinjaValues.Equals(left, right);
            case "!=": return !JinjaValues.Equals(left, right);
            case "<": return JinjaValues.Compare(left, right, b.Position) < 0;
            case ">": return JinjaValues.Compare(left, right, b.Position) > 0;
            case "<=": return JinjaValues.Compare(left, right, b.Position) <= 0;
            case ">=": return JinjaValues.Compare(left, right, b.Position) >= 0;
            case "in": return JinjaBuiltins.Contains(right, left, b.Position);
            case "not in": return !JinjaBuiltins.Contains(right, left, b.Position);
            case "~": return JinjaValues.Str(left) + JinjaValues.Str(right);
        }
        return JinjaBuiltins.Arithmetic(b.Op, left, right, b.Position);
    }
}
