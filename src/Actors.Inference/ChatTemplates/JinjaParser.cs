using System.Globalization;

namespace Actors.Inference.ChatTemplates;

/// <summary>
/// Parses template tokens into a tree. Statements: if/elif/else, for (with an inline filter and an else
/// branch, break/continue), set (plain, tuple, namespace attribute, block), macro. Expressions follow
/// Jinja's precedence: conditional, or, and, not, comparisons and `in`, `~`, + -, * / // %, **, unary
/// minus, then postfix attribute/index/slice/call, `| filter` and `is test`. Anything else is a
/// <see cref="JinjaException"/> that names the construct and where it is.
/// </summary>
internal sealed class JinjaParser
{
    private static readonly HashSet<string> Unsupported =
        ["call", "filter", "include", "import", "from", "extends", "block", "with", "autoescape", "raw", "do"];

    private readonly List<JinjaToken> _tokens;
    private int _p;

    private JinjaParser(List<JinjaToken> tokens) => _tokens = tokens;

    public static List<Node> Parse(string template)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(template));
        var body = parser.ParseBlock(out string? end);
        if (end != null) throw JinjaException.At(parser.Previous.Position, $"'{{% {end} %}}' without its opening statement");
        return body;
    }

    private JinjaToken Current => _tokens[_p];
    private JinjaToken Previous => _tokens[Math.Max(0, _p - 1)];
    private JinjaToken Next() => _tokens[_p++];

    private bool IsOp(string op) => Current.Kind == JinjaTokenKind.Operator && Current.Value == op;
    private bool IsName(string name) => Current.Kind == JinjaTokenKind.Name && Current.Value == name;
    private bool AcceptOp(string op) { if (!IsOp(op)) return false; _p++; return true; }
    private bool AcceptName(string name) { if (!IsName(name)) return false; _p++; return true; }

    private void ExpectOp(string op)
    {
        if (!AcceptOp(op)) throw JinjaException.At(Current.Position, $"expected '{op}' but found {Describe(Current)}");
    }

    private string ExpectName()
    {
        if (Current.Kind != JinjaTokenKind.Name) throw JinjaException.At(Current.Position, $"expected a name but found {Describe(Current)}");
        return Next().Value;
    }

    private void Expect(JinjaTokenKind kind)
    {
        if (Current.Kind != kind) throw JinjaException.At(Current.Position, $"expected {Describe(kind)} but found {Describe(Current)}");
        _p++;
    }

    private static string Describe(JinjaToken t) => t.Kind switch
    {
        JinjaTokenKind.End => "the end of the template",
        JinjaTokenKind.Text => "text",
        JinjaTokenKind.String => $"the string \"{t.Value}\"",
        _ when t.Value.Length > 0 => $"'{t.Value}'",
        _ => Describe(t.Kind),
    };

    private static string Describe(JinjaTokenKind k) => k switch
    {
        JinjaTokenKind.ExprClose => "'}}'", JinjaTokenKind.StmtClose => "'%}'", JinjaTokenKind.ExprOpen => "'{{'", JinjaTokenKind.StmtOpen => "'{%'",
        _ => k.ToString().ToLowerInvariant(),
    };

    /// <summary>Nodes up to an end/branch statement, whose keyword is returned in <paramref name="end"/> (null at the end).</summary>
    private List<Node> ParseBlock(out string? end, params string[] ends)
    {
        var nodes = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case JinjaTokenKind.End:
                    end = null;
                    return nodes;
                case JinjaTokenKind.Text:
                    _p++;
                    nodes.Add(new TextNode(t.Position, t.Value));
                    break;
                case JinjaTokenKind.ExprOpen:
                    _p++;
                    nodes.Add(new OutputNode(t.Position, ParseExpression()));
                    Expect(JinjaTokenKind.ExprClose);
                    break;
                case JinjaTokenKind.StmtOpen:
                    var keyword = _tokens[_p + 1];
                    if (keyword.Kind == JinjaTokenKind.Name && (Array.IndexOf(ends, keyword.Value) >= 0 || keyword.Value.StartsWith("end", StringComparison.Ordinal) || keyword.Value is "elif" or "else"))
                    {
                        if (Array.IndexOf(ends, keyword.Value) < 0)
                            throw JinjaException.At(keyword.Position, ends.Length == 0
                                ? $"'{keyword.Value}' without its opening statement"
                                : $"unexpected '{keyword.Value}' (expected {string.Join(" or ", ends.Select(e => $"'{e}'"))})");
                        _p += 2;
                        end = keyword.Value;
                        return nodes;
                    }
                    _p++;
                    nodes.Add(ParseStatement());
                    break;
                default:
                    throw JinjaException.At(t.Position, $"unexpected {Describe(t)}");
            }
        }
    }

    private Node ParseStatement()
    {
        var t = Current;
        if (t.Kind != JinjaTokenKind.Name) throw JinjaException.At(t.Position, $"expected a statement keyword but found {Describe(t)}");
        _p++;
        switch (t.Value)
        {
            case "if": return ParseIf(t.Position);
            case "for": return ParseFor(t.Position);
            case "set": return ParseSet(t.Position);
            case "macro": return ParseMacro(t.Position);
            case "break": Expect(JinjaTokenKind.StmtClose); return new BreakNode(t.Position);
            case "continue": Expect(JinjaTokenKind.StmtClose); return new ContinueNode(t.Position);
            default:
                throw JinjaException.At(t.Position, Unsupported.Contains(t.Value)
                    ? $"unsupported statement '{t.Value}'"
                    : $"unknown statement '{t.Value}'");
        }
    }

    private IfNode ParseIf(SourcePosition position)
    {
        var condition = ParseExpression();
        Expect(JinjaTokenKind.StmtClose);
        var then = ParseBlock(out string? end, "elif", "else", "endif");
        var otherwise = new List<Node>();
        if (end == "elif") otherwise.Add(ParseIf(Previous.Position));
        else if (end == "else")
        {
            Expect(JinjaTokenKind.StmtClose);
            otherwise = ParseBlock(out end, "endif");
            if (end != "endif") throw JinjaException.At(position, "'if' without 'endif'");
            Expect(JinjaTokenKind.StmtClose);
        }
        else if (end == "endif") Expect(JinjaTokenKind.StmtClose);
        else throw JinjaException.At(position, "'if' without 'endif'");
        return new IfNode(position, condition, then, otherwise);
    }

    private ForNode ParseFor(SourcePosition position)
    {
        var targets = new List<string> { ExpectName() };
        while (AcceptOp(",")) targets.Add(ExpectName());
        if (!AcceptName("in")) throw JinjaException.At(Current.Position, $"expected 'in' in the for statement but found {Describe(Current)}");
        var iterable = ParseOr(); // a conditional here would swallow the loop filter's "if"
        Expr? filter = null;
        if (AcceptName("if")) filter = ParseOr();
        if (IsName("recursive")) throw JinjaException.At(Current.Position, "unsupported construct 'recursive' loop");
        Expect(JinjaTokenKind.StmtClose);
        var body = ParseBlock(out string? end, "else", "endfor");
        var otherwise = new List<Node>();
        if (end == "else")
        {
            Expect(JinjaTokenKind.StmtClose);
            otherwise = ParseBlock(out end, "endfor");
        }
        if (end != "endfor") throw JinjaException.At(position, "'for' without 'endfor'");
        Expect(JinjaTokenKind.StmtClose);
        return new ForNode(position, targets, iterable, filter, body, otherwise);
    }

    private SetNode ParseSet(SourcePosition position)
    {
        var targets = new List<string> { ExpectName() };
        string? attribute = null;
        if (AcceptOp(".")) attribute = ExpectName();
        else while (AcceptOp(",")) targets.Add(ExpectName());
        if (AcceptOp("="))
        {
            var value = ParseExpression();
            if (IsOp(","))
            {
                var items = new List<Expr> { value };
                while (AcceptOp(",")) items.Add(ParseExpression());
                value = new ListExpr(value.Position, items);
            }
            Expect(JinjaTokenKind.StmtClose);
            return new SetNode(position, targets, attribute, value, null);
        }
        if (attribute != null || targets.Count > 1) throw JinjaException.At(Current.Position, $"expected '=' in the set statement but found {Describe(Current)}");
        Expect(JinjaTokenKind.StmtClose);
        var body = ParseBlock(out string? end, "endset");
        if (end != "endset") throw JinjaException.At(position, "block 'set' without 'endset'");
        Expect(JinjaTokenKind.StmtClose);
        return new SetNode(position, targets, null, null, body);
    }

    private MacroNode ParseMacro(SourcePosition position)
    {
        string name = ExpectName();
        ExpectOp("(");
        var parameters = new List<(string, Expr?)>();
        while (!AcceptOp(")"))
        {
            if (parameters.Count > 0) ExpectOp(",");
            if (AcceptOp(")")) break;
            string p = ExpectName();
            parameters.Add((p, AcceptOp("=") ? ParseExpression() : null));
        }
        Expect(JinjaTokenKind.StmtClose);
        var body = ParseBlock(out string? end, "endmacro");
        if (end != "endmacro") throw JinjaException.At(position, $"macro '{name}' without 'endmacro'");
        Expect(JinjaTokenKind.StmtClose);
        return new MacroNode(position, name, parameters, body);
    }

    // ---------------------------------------------------------------- expressions

    public Expr ParseExpression()
    {
        var value = ParseOr();
        if (!IsName("if")) return value;
        var position = Next().Position;
        var condition = ParseOr();
        Expr? otherwise = AcceptName("else") ? ParseExpression() : null;
        return new ConditionalExpr(position, condition, value, otherwise);
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (IsName("or")) { var p = Next().Position; left = new BinaryExpr(p, "or", left, ParseAnd()); }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (IsName("and")) { var p = Next().Position; left = new BinaryExpr(p, "and", left, ParseNot()); }
        return left;
    }

    private Expr ParseNot()
    {
        if (IsName("not")) { var p = Next().Position; return new UnaryExpr(p, "not", ParseNot()); }
        return ParseComparison();
    }

    private Expr ParseComparison()
    {
        var left = ParseConcat();
        while (true)
        {
            var p = Current.Position;
            if (Current.Kind == JinjaTokenKind.Operator && Current.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
                left = new BinaryExpr(p, Next().Value, left, ParseConcat());
            else if (AcceptName("in")) left = new BinaryExpr(p, "in", left, ParseConcat());
            else if (IsName("not") && _tokens[_p + 1].Kind == JinjaTokenKind.Name && _tokens[_p + 1].Value == "in")
            {
                _p += 2;
                left = new BinaryExpr(p, "not in", left, ParseConcat());
            }
            else return left;
        }
    }

    private Expr ParseConcat()
    {
        var left = ParseAdditive();
        while (IsOp("~")) { var p = Next().Position; left = new BinaryExpr(p, "~", left, ParseAdditive()); }
        return left;
    }

    private Expr ParseAdditive()
    {
        var left = ParseMultiplicative();
        while (IsOp("+") || IsOp("-")) { var t = Next(); left = new BinaryExpr(t.Position, t.Value, left, ParseMultiplicative()); }
        return left;
    }

    private Expr ParseMultiplicative()
    {
        var left = ParsePower();
        while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) { var t = Next(); left = new BinaryExpr(t.Position, t.Value, left, ParsePower()); }
        return left;
    }

    private Expr ParsePower()
    {
        var left = ParseUnary();
        while (IsOp("**")) { var t = Next(); left = new BinaryExpr(t.Position, "**", left, ParseUnary()); }
        return left;
    }

    // As Jinja: "-x | f" filters the negation, so a unary operand takes no filters of its own.
    private Expr ParseUnary(bool withFilters = true)
    {
        Expr e;
        if (IsOp("-") || IsOp("+")) { var t = Next(); e = new UnaryExpr(t.Position, t.Value, ParseUnary(withFilters: false)); }
        else e = ParsePostfix(ParsePrimary());
        return withFilters ? ParseFiltersAndTests(e) : e;
    }

    private Expr ParsePostfix(Expr e)
    {
        while (true)
        {
            var t = Current;
            if (AcceptOp(".")) e = new AttributeExpr(t.Position, e, ExpectName());
            else if (AcceptOp("[")) e = ParseSubscript(t.Position, e);
            else if (AcceptOp("("))
            {
                var (args, kwargs) = ParseArguments();
                e = new CallExpr(t.Position, e, args, kwargs);
            }
            else return e;
        }
    }

    private Expr ParseFiltersAndTests(Expr e)
    {
        while (true)
        {
            if (AcceptOp("|"))
            {
                var nameToken = Current;
                string name = ExpectName();
                List<Expr> args = [];
                List<(string, Expr)> kwargs = [];
                if (AcceptOp("(")) (args, kwargs) = ParseArguments();
                e = new FilterExpr(nameToken.Position, e, name, args, kwargs);
            }
            else if (IsName("is"))
            {
                _p++;
                bool negated = AcceptName("not");
                var nameToken = Current;
                string name = nameToken.Kind == JinjaTokenKind.Name ? Next().Value
                    : nameToken.Kind == JinjaTokenKind.Operator && nameToken.Value is "==" or "!=" or "<" or ">" or "<=" or ">=" ? Next().Value
                    : throw JinjaException.At(nameToken.Position, $"expected a test name after 'is' but found {Describe(nameToken)}");
                List<Expr> args = [];
                if (AcceptOp("(")) args = ParseArguments().Args;
                else if (Current.Kind is JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float
                         || (Current.Kind == JinjaTokenKind.Name && Current.Value is not ("and" or "or" or "else" or "if" or "in" or "not" or "is")))
                    args = [ParsePrimary()];
                e = new TestExpr(nameToken.Position, e, name, args, negated);
            }
            else return e;
        }
    }

    private Expr ParseSubscript(SourcePosition position, Expr target)
    {
        Expr? start = null, stop = null, step = null;
        if (!IsOp(":")) start = ParseExpression();
        if (AcceptOp(":"))
        {
            if (!IsOp(":") && !IsOp("]")) stop = ParseExpression();
            if (AcceptOp(":") && !IsOp("]")) step = ParseExpression();
            ExpectOp("]");
            return new SliceExpr(position, target, start, stop, step);
        }
        ExpectOp("]");
        return new IndexExpr(position, target, start!);
    }

    private (List<Expr> Args, List<(string Name, Expr Value)> Kwargs) ParseArguments()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!AcceptOp(")"))
        {
            if (args.Count + kwargs.Count > 0) { ExpectOp(","); if (AcceptOp(")")) break; }
            if (Current.Kind == JinjaTokenKind.Name && _tokens[_p + 1] is { Kind: JinjaTokenKind.Operator, Value: "=" })
            {
                string name = Next().Value;
                _p++;
                kwargs.Add((name, ParseExpression()));
            }
            else if (IsOp("*") || IsOp("**")) throw JinjaException.At(Current.Position, "unsupported construct '*args' / '**kwargs' in a call");
            else args.Add(ParseExpression());
        }
        return (args, kwargs);
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case JinjaTokenKind.String:
                // Adjacent string literals concatenate, as in Python.
                string s = t.Value;
                while (Current.Kind == JinjaTokenKind.String) s += Next().Value;
                return new LiteralExpr(t.Position, s);
            case JinjaTokenKind.Integer:
                return new LiteralExpr(t.Position, long.Parse(t.Value, CultureInfo.InvariantCulture));
            case JinjaTokenKind.Float:
                return new LiteralExpr(t.Position, double.Parse(t.Value, CultureInfo.InvariantCulture));
            case JinjaTokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(t.Position, true),
                    "false" or "False" => new LiteralExpr(t.Position, false),
                    "none" or "None" => new LiteralExpr(t.Position, null),
                    _ => new NameExpr(t.Position, t.Value),
                };
            case JinjaTokenKind.Operator when t.Value == "(":
            {
                if (AcceptOp(")")) return new ListExpr(t.Position, []);
                var first = ParseExpression();
                if (AcceptOp(")")) return first;
                var items = new List<Expr> { first };
                while (AcceptOp(",")) { if (IsOp(")")) break; items.Add(ParseExpression()); }
                ExpectOp(")");
                return new ListExpr(t.Position, items); // a tuple
            }
            case JinjaTokenKind.Operator when t.Value == "[":
            {
                var items = new List<Expr>();
                while (!AcceptOp("]"))
                {
                    if (items.Count > 0) { ExpectOp(","); if (AcceptOp("]")) break; }
                    items.Add(ParseExpression());
                }
                return new ListExpr(t.Position, items);
            }
            case JinjaTokenKind.Operator when t.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!AcceptOp("}"))
                {
                    if (items.Count > 0) { ExpectOp(","); if (AcceptOp("}")) break; }
                    var key = ParseExpression();
                    ExpectOp(":");
                    items.Add((key, ParseExpression()));
                }
                return new DictExpr(t.Position, items);
            }
            default:
                throw JinjaException.At(t.Position, $"expected a value but found {Describe(t)}");
        }
    }
}
