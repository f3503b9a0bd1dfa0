namespace Actors.Inference.ChatTemplates;

// The syntax tree of a template: statements (Node) and expressions (Expr), each with its source position.

internal abstract record Node(SourcePosition Position);
internal sealed record TextNode(SourcePosition Position, string Text) : Node(Position);
internal sealed record OutputNode(SourcePosition Position, Expr Value) : Node(Position);
internal sealed record IfNode(SourcePosition Position, Expr Condition, List<Node> Then, List<Node> Else) : Node(Position);
internal sealed record ForNode(SourcePosition Position, List<string> Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node> Else) : Node(Position);
/// <summary>{% set target = value %}, {% set ns.attr = value %} (Attribute set) or a block set (Body).</summary>
internal sealed record SetNode(SourcePosition Position, List<string> Targets, string? Attribute, Expr? Value, List<Node>? Body) : Node(Position);
internal sealed record MacroNode(SourcePosition Position, string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body) : Node(Position);
internal sealed record BreakNode(SourcePosition Position) : Node(Position);
internal sealed record ContinueNode(SourcePosition Position) : Node(Position);

internal abstract record Expr(SourcePosition Position);
internal sealed record LiteralExpr(SourcePosition Position, object? Value) : Expr(Position);
internal sealed record NameExpr(SourcePosition Position, string Name) : Expr(Position);
internal sealed record ListExpr(SourcePosition Position, List<Expr> Items) : Expr(Position);
internal sealed record DictExpr(SourcePosition Position, List<(Expr Key, Expr Value)> Items) : Expr(Position);
internal sealed record AttributeExpr(SourcePosition Position, Expr Target, string Name) : Expr(Position);
internal sealed record IndexExpr(SourcePosition Position, Expr Target, Expr Index) : Expr(Position);
internal sealed record SliceExpr(SourcePosition Position, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Position);
internal sealed record CallExpr(SourcePosition Position, Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Position);
internal sealed record FilterExpr(SourcePosition Position, Expr Value, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Position);
internal sealed record TestExpr(SourcePosition Position, Expr Value, string Name, List<Expr> Args, bool Negated) : Expr(Position);
internal sealed record UnaryExpr(SourcePosition Position, string Op, Expr Operand) : Expr(Position);
internal sealed record BinaryExpr(SourcePosition Position, string Op, Expr Left, Expr Right) : Expr(Position);
internal sealed record ConditionalExpr(SourcePosition Position, Expr Condition, Expr Then, Expr? Else) : Expr(Position);
