using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.ChatTemplates;

/// <summary>
/// One case per construct, with the expected output written here; the same table is also checked
/// against @huggingface/jinja, so neither our expectations nor the interpreter can drift from it.
/// </summary>
public sealed class JinjaInterpreterTests
{
    private const string Ctx = """{"xs": [3, 1, 2], "m": {"b": 1, "a": "x"}, "s": "  Hello World  ", "n": null, "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}""";

    public static readonly (string Name, string Template, string Expected)[] Cases =
    [
        ("text and output", "a{{ 1 + 2 }}b", "a3b"),
        ("string literal escapes", "{{ 'a\\nb' }}|{{ \"q\\\"\" }}", "a\nb|q\""),
        ("whitespace control", "a  {{- 'x' -}}  b\n{%- if true %} c{% endif %}", "axb c"),
        ("comments", "a{# hidden #}b{#- x -#}  c", "abc"),
        ("trim_blocks and lstrip_blocks", "x\n    {% if true %}\n    y\n    {% endif %}\nz", "x\n    y\nz"),
        ("if elif else", "{% for x in xs %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %},{% endfor %}", "other,one,two,"),
        ("for with loop variables", "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}", "10truefalse33;21falsefalse32;32falsetrue31;"),
        ("for with filter and else", "{% for x in xs if x > 1 %}{{ x }}{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}", "32|empty"),
        ("for over dict items", "{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}", "b=1;a=x;"),
        ("break and continue", "{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", "13"),
        ("set does not leak from a loop", "{% set y = 0 %}{% for x in xs %}{% set y = x %}{% endfor %}{{ y }}", "0"),
        ("namespace carries state out", "{% set ns = namespace(total=0) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% endfor %}{{ ns.total }}", "6"),
        ("block set", "{% set b %}in{{ 1 }}{% endset %}[{{ b }}]", "[in1]"),
        ("tuple set", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12"),
        ("macro with defaults", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C') }}", "Hi A! Hi B? Hi C!"),
        ("conditional expression", "{{ 'y' if xs else 'n' }}{{ 'y' if n else 'n' }}", "yn"),
        ("boolean operators", "{{ true and 'x' }}{{ false or 'z' }}{{ not n }}", "xztrue"),
        ("comparisons and in", "{{ 1 < 2 }}{{ 'ell' in s }}{{ 'a' in m }}{{ 5 not in xs }}{{ 2 in xs }}", "truetruetruetruetrue"),
        ("arithmetic", "{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 7 / 2 }} {{ -3 + 1 }}", "3 1 8 3.5 -2"),
        ("concatenation", "{{ 'a' ~ 1 ~ true }}{{ 'x' + 'y' }}", "a1truexy"),
        ("filter binds tighter than +", "{{ 'a' + s | trim + 'b' }}", "aHello Worldb"),
        ("index, negative index, attribute", "{{ xs[0] }}{{ xs[-1] }}{{ m['a'] }}{{ m.b }}{{ msgs[1].role }}", "32x1assistant"),
        ("slices", "{{ xs[1:] }}{{ xs[::-1] }}{{ 'abcdef'[1:4] }}{{ 'abc'[::-1] }}", "[1, 2][2, 1, 3]bcdcba"),
        ("string methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ 'a,b,c'.split(',') }}|{{ 'x--y'.split('-', 1) }}|{{ s.startswith('  H') }}{{ s.endswith(('x', '  ')) }}|{{ 'aXa'.replace('a', 'b') }}|{{ 'ab'.upper() }}{{ 'AB'.lower() }}|{{ 'hello world'.title() }}", "Hello World|Hello World  |[\"a\", \"b\", \"c\"]|[\"x\", \"-y\"]|truetrue|bXb|ABab|Hello World"),
        ("dict methods", "{{ m.keys() | list }}{{ m.values() | list }}{{ m.get('a') }}{{ m.get('z', 'dflt') }}", "[\"b\", \"a\"][1, \"x\"]xdflt"),
        ("filters on strings", "{{ s | trim | upper }}|{{ 'ab' | length }}|{{ 'hello' | capitalize }}|{{ 'a b' | replace(' ', '_') }}", "HELLO WORLD|2|Hello|a_b"),
        ("filters on lists", "{{ xs | length }}{{ xs | first }}{{ xs | last }}{{ xs | join('-') }}{{ xs | sort }}{{ xs | reverse | list }}{{ [1, 1, 2] | unique | list }}", "3323-1-2[1, 2, 3][2, 1, 3][1, 2]"),
        ("map, selectattr and rejectattr", "{{ msgs | map(attribute='role') | join(',') }}|{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}|{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }}", "user,assistant|[\"hi\"]|1"),
        ("default filter", "{{ missing | default('d') }}{{ n | default('d') }}{{ '' | default('e', true) }}", "de"),
        ("tojson", "{{ m | tojson }}|{{ xs | tojson }}|{{ 'q\"\\n' | tojson }}|{{ {'k': [1, true, none, 1.5]} | tojson }}", "{\"b\": 1, \"a\": \"x\"}|[3, 1, 2]|\"q\\\"\\n\"|{\"k\": [1, true, null, 1.5]}"),
        ("tojson with indent", "{{ {'a': [1, 2]} | tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    2\n  ]\n}"),
        ("int, float, string, abs", "{{ '42' | int + 1 }} {{ '2.5' | float }} {{ 3 | string + 'x' }} {{ -4 | abs }}", "43 2.5 3x 4"),
        ("items and dictsort", "{{ m | items | list }}{{ m | dictsort }}", "[[\"b\", 1], [\"a\", \"x\"]][[\"a\", \"x\"], [\"b\", 1]]"),
        ("indent filter", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", "a\n  b\n\n  c|  a\n  b"),
        ("tests", "{{ n is none }}{{ missing is defined }}{{ s is string }}{{ xs is iterable }}{{ m is mapping }}{{ 3 is odd }}{{ 4 is even }}{{ 1 is number }}{{ 1 is integer }}{{ true is boolean }}{{ xs is not string }}", "truefalsetruetruetruetruetruetruetruetruetrue"),
        ("range", "{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}", "012135"),
        ("printing values", "{{ n }}|{{ missing }}|{{ true }}|{{ 1.0 }}|{{ [1, 'a', none] }}|{{ m }}", "||true|1.0|[1, \"a\", null]|{\"b\": 1, \"a\": \"x\"}"),
        ("dict literal and membership", "{% set d = {'k': 1, 'j': 2} %}{{ d.k + d['j'] }}{{ 'k' in d }}", "3true"),
        ("adjacent string literals", "{{ 'a' 'b' }}", "ab"),
        ("is defined on message fields", "{% for m in msgs %}{{ m.tool_calls is defined }}{{ m.content is string }}{% endfor %}", "falsetruefalsetrue"),
    ];

    /// <summary>Constructs Jinja has and @huggingface/jinja does not (checked against the expectations only).</summary>
    public static readonly (string Name, string Template, string Expected)[] ExtraCases =
    [
        ("sum, round, min and max filters", "{{ xs | sum }} {{ 2.567 | round(2) }} {{ xs | min }}{{ xs | max }}", "6 2.57 13"),
        ("select and reject with a test", "{{ xs | select('odd') | list }}{{ xs | reject('odd') | list }}", "[3, 1][2]"),
        ("float test", "{{ 1.5 is float }}{{ 1 is float }}", "truefalse"),
        ("string repetition", "{{ 'ab' * 2 }}", "abab"),
        ("splitlines", "{{ 'a\\nb\\r\\nc\\n'.splitlines() | length }}", "3"),
        ("strip with characters (Python's meaning)", "{{ '\\n\\nx\\n'.strip('\\n') }}|{{ 'xxay'.lstrip('x') }}", "x|ay"),
        ("loop.cycle, previtem, nextitem", "{% for x in xs %}{{ loop.cycle('a', 'b') }}{{ loop.previtem if not loop.first }}{{ loop.nextitem if not loop.last }};{% endfor %}", "a1;b32;a1;"),
        ("test with an argument", "{{ 6 is divisibleby 3 }}{{ 7 is divisibleby(3) }}", "truefalse"),
    ];

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases.Concat(ExtraCases)) data.Add(c.Name);
        return data;
    }

    private static string Render(string template)
    {
        var ctx = JsonNode.Parse(Ctx)!.AsObject();
        return new JinjaTemplate(template).Render(ctx.ToDictionary(kv => kv.Key, kv => kv.Value));
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Construct_renders_as_expected(string name)
    {
        var c = Cases.Concat(ExtraCases).Single(x => x.Name == name);
        Assert.Equal(c.Expected, Render(c.Template));
    }

    [JsReferenceFact]
    public void Every_construct_renders_as_huggingface_jinja()
    {
        var failures = new List<string>();
        var answer = JsReference.Call(new JsonObject
        {
            ["op"] = "renderEach",
            ["items"] = new JsonArray(Cases.Select(c => (JsonNode)new JsonObject { ["template"] = c.Template, ["context"] = JsonNode.Parse(Ctx) }).ToArray()),
        })["outputs"]!.AsArray();
        for (int i = 0; i < Cases.Length; i++)
        {
            var c = Cases[i];
            string expected = answer[i] is JsonObject error ? "ERROR: " + (string?)error["error"] : (string)answer[i]!;
            string actual = Render(c.Template);
            if (expected != actual) failures.Add($"{c.Name}: @huggingface/jinja \"{expected}\", ours \"{actual}\"");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("{% include 'x.j2' %}", "unsupported statement 'include' at line 1, column 4")]
    [InlineData("a\n  {% call foo() %}{% endcall %}", "unsupported statement 'call' at line 2, column 6")]
    [InlineData("{{ x | frobnicate }}", "unknown filter 'frobnicate' at line 1, column 8")]
    [InlineData("{{ x is frobnicated }}", "unknown test 'frobnicated' at line 1, column 9")]
    [InlineData("{{ 'a'.zfill(3) }}", "unsupported string method 'zfill' at line 1, column 7")]
    [InlineData("{% if x %}no end", "'if' without 'endif' at line 1, column 4")]
    [InlineData("{% endfor %}", "'endfor' without its opening statement at line 1, column 4")]
    [InlineData("{{ 'a' % 1 }}", "unsupported construct '%' string formatting at line 1, column 8")]
    [InlineData("{{ 1 +* 2 }}", "expected a value but found '*' at line 1, column 7")]
    [InlineData("{% for x in xs recursive %}{% endfor %}", "unsupported construct 'recursive' loop at line 1, column 16")]
    [InlineData("{{ range(1, 2, 3, 4) }}", "range() takes 1 to 3 arguments, got 4 at line 1, column 9")]
    public void Unsupported_or_malformed_construct_is_an_error_naming_it_and_its_position(string template, string message)
    {
        var ex = Assert.Throws<JinjaException>(() => Render(template));
        Assert.Equal(message, ex.Message);
    }

    [Fact]
    public void Raise_exception_raises_the_templates_message()
    {
        var ex = Assert.Throws<TemplateRaisedException>(() => Render("{{ raise_exception('roles must alternate') }}"));
        Assert.Equal("roles must alternate", ex.Message);
    }
}
