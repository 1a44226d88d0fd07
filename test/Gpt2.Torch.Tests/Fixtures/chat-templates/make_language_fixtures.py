"""Renders small Jinja snippets, one language feature each, with Python's Jinja2 set up as transformers sets it up
(src/transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and
loopcontrols, its tojson, raise_exception and strftime_now) and writes language.json: template, variables, expected
text or expected error. It also renders every case of fixtures.json (made by make_fixtures.mjs with @huggingface/jinja)
with Jinja2 and reports any difference between the two renderers. Run: python3 make_language_fixtures.py"""
import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = datetime(2026, 12, 5, 14, 3, 9)


class Generation(jinja2.ext.Extension):
    """transformers' AssistantTracker, without the tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return env


ENV = environment()

USERS = [{"name": "ann", "admin": True}, {"name": "bo", "admin": False}, {"name": "cy", "admin": True}]
OBJ = {"name": "f", "args": {"x": 1.5, "y": [1, "two", None, True]}, "ünï": "é\"\n"}

CASES = [
    ("whitespace/trim-blocks", "{% if true %}\n  x\n{% endif %}\nafter", {}),
    ("whitespace/lstrip-blocks", "  {% if true %}\nA{% endif %}  B\n    {% if true %}C{% endif %}", {}),
    ("whitespace/minus-both-sides", "a  {{- ' b ' -}}  c\n  {%- if true -%}  d  {%- endif -%}\n  e", {}),
    ("whitespace/comments", "one\n    {# a comment #}\ntwo {#- stripped -#}   three\n{# last #}", {}),
    ("whitespace/for-lines", "{% for i in [1, 2] %}\n    {{ i }}\n{% endfor %}\nend", {}),
    ("whitespace/plus-keeps-indent", "x\n  {%+ if true %}y{% endif %}", {}),
    ("whitespace/expression-keeps-newline", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("whitespace/trailing-newline-dropped-once", "abc\n\n", {}),
    ("whitespace/lstrip-not-for-expressions", "a\n  {{ 'x' }}\n  {# c #}\n\tb {% if true %}c{% endif %}", {}),
    ("whitespace/tabs-and-nested-blocks", "{%- for m in ['a', 'b'] %}\n\t{%- if m == 'a' %}\n\t\t{{- m }}\n\t{%- else %}\n\t\t[{{ m }}]\n\t{%- endif %}\n{%- endfor %}\n", {}),
    ("whitespace/crlf", "{% if true %}\r\nx\r\n{% endif %}\r\ny", {}),
    ("print/values", "{{ none }}|{{ true }}|{{ false }}|{{ 1.0 }}|{{ 1/2 }}|{{ 7//2 }}|{{ -7//2 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 2**10 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ 2.5e-7 }}|{{ 'x' * 3 }}|{{ 3 * [0] }}", {}),
    ("print/containers", "{{ [1, 'a', none, true, 1.5] }}|{{ {'a': 1, 'b': [true], \"it's\": 'x'} }}|{{ [[], {}] }}", {}),
    ("print/numbers-from-variables", "{{ i }}|{{ f }}|{{ i + f }}|{{ i * 2 }}|{{ i / 4 }}|{{ -i }}", {"i": 3, "f": 0.25}),
    ("undefined/semantics", "[{{ missing }}]|{{ missing is defined }}|{{ missing is undefined }}|{{ missing|default('d') }}|{{ missing|length }}|{% for x in missing %}{{ x }}{% else %}empty{% endfor %}|{{ 'a' ~ missing ~ 'b' }}|{{ not missing }}|{{ missing == none }}|{{ 'x' in missing }}", {}),
    ("undefined/filters", "[{{ missing|trim }}][{{ missing|upper }}][{{ missing|join(',') }}][{{ missing|list }}][{{ missing|items|list }}][{{ missing|string }}][{{ missing|first is defined }}]", {}),
    ("undefined/attribute-of-dict-is-undefined", "{{ d.nothing is defined }}|{{ d['nothing'] is defined }}|{{ d.nothing|default('none here') }}|{{ none.x is defined }}", {"d": {"a": 1}}),
    ("dict/access-and-methods", "{{ d.a }}{{ d['b'] }}|{{ d.get('a') }}|{{ d.get('zz', 'def') }}|{{ d.get('zz') }}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d|length }}|{{ 'a' in d }}|{{ 'q' not in d }}|{% for k in d %}{{ k }}{% endfor %}", {"d": {"a": 1, "b": "two"}}),
    ("dict/literal-nesting", "{{ {'a': {'b': 2}}['a']['b'] }}|{{ {'a': {'b': 2}}.a.b }}", {}),
    ("string/methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ s.upper() }}|{{ 'hello wORLD-foo'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'a</think>b'.split('</think>')[-1] }}|{{ 'abcabc'.find('c') }}|{{ 'abcabc'.count('bc') }}|{{ '-'.join(['a', 'b']) }}", {"s": "  Hello World \n"}),
    ("string/escapes", "{{ 'a\\tb' }}|{{ \"q\\\"uote\" }}|{{ 'it\\'s' }}|{{ '\\u00e9\\x41' }}|{{ 'back\\\\slash' }}|{{ 'keep\\d' }}|{{ 'ab' 'cd' }}", {}),
    ("string/unicode", "{{ s|length }}|{{ s[5] }}|{{ s|reverse }}|{{ s|upper }}|{{ s[1:3] }}", {"s": "héllo😀"}),
    ("slices", "{{ l[1:] }}|{{ l[::-1] }}|{{ l[-2:] }}|{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ l[:-1] }}|{{ l[::2] }}|{{ l[5] is defined }}|{{ l[-1] }}|{{ l[1:100] }}|{{ l[-100:1] }}|{{ l[3:1:-1] }}|{{ l[:0] }}", {"l": [1, 2, 3, 4]}),
    ("loop/variables", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem is defined }}{{ loop.nextitem|default('-') }};{% endfor %}", {}),
    ("loop/filter", "{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ x }}{{ loop.index }}{{ loop.last }},{% endfor %}", {}),
    ("loop/else-break-continue", "{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in [] %}{{ x }}{% else %}none{% endfor %}|{% for x in [0] if x %}{{ x }}{% else %}filtered{% endfor %}", {}),
    ("loop/unpacking-and-nesting", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% for c in 'xy' %}{{ loop.index }}{{ c }}{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("loop/cycle-range", "{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{{ i }}{% endfor %}|{{ range(1, 7, 2)|list }}|{{ range(3, 0, -1)|list }}", {}),
    ("scope/loop-does-not-leak", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("scope/namespace", "{% set ns = namespace(n=0, last='') %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% set ns.last = i|string %}{% endfor %}{{ ns.n }}{{ ns.last }}", {}),
    ("scope/set-variable-to-its-slice", "{% set turns = turns[1:] %}{{ turns|length }}{{ turns[0].role }}", {"turns": [{"role": "system"}, {"role": "user"}]}),
    ("if/elif-else", "{% if 0 %}a{% elif '' %}b{% elif [0] %}c{% else %}d{% endif %}{% if none %}e{% elif {} %}f{% else %}g{% endif %}", {}),
    ("expression/conditional", "{{ 'y' if 1 > 2 else 'n' }}[{{ 'z' if false }}]{{ 'a' if true else 'b' if true else 'c' }}", {}),
    ("expression/precedence", "{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 'a' ~ 2 * 3 }}|{{ not 1 == 2 }}|{{ [1, 2]|length - 1 }}|{{ 1 + [1, 2]|length }}|{{ not true and false }}|{{ 10 - 2 - 3 }}|{{ 12 / 2 / 3 }}", {}),
    ("expression/and-or-values", "{{ 0 or 'x' }}|{{ 1 and 'y' }}|[{{ '' and 'z' }}]|{{ none or none }}|{{ [] or [1] }}", {}),
    ("expression/comparisons", "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1.0 }}{{ 'a' in 'abc' }}{{ 2 not in [1, 3] }}{{ 'b' > 'a' }}{{ [1, 2] == [1, 2] }}{{ none == none }}{{ true == 1 }}{{ 1 != '1' }}{{ 2 >= 2.0 }}{{ 'B' < 'a' }}", {}),
    ("tests", "{{ 1 is number }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ [] is sequence }}{{ none is none }}{{ true is boolean }}{{ true is true }}{{ 0 is false }}{{ 3 is odd }}{{ 4 is even }}{{ 1 is equalto 1 }}{{ x is not defined }}{{ 6 is divisibleby 3 }}{{ 1.5 is number }}{{ 1 is integer }}{{ 1.5 is float }}{{ 2 is eq(2) }}{{ 1 is in([1]) }}{{ 'abc' is lower }}{{ raise_exception is callable }}{{ none is mapping }}{{ 1 is string }}", {}),
    ("filters/text", "{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'abc'|upper }}|{{ 'ABC'|lower }}|{{ 'hello wORLD-foo (bar)'|title }}|{{ 'hello World'|capitalize }}|{{ 'aXbX'|replace('X', '-') }}|{{ 'aXbX'|replace('X', '-', 1) }}|{{ 3|string }}|{{ 'x'|safe }}|{{ 'abc'|count }}|{{ 'abc'|length }}", {}),
    ("filters/lists", "{{ [1, 2, 3]|join(', ') }}|{{ [1, 2, 3]|join }}|{{ [1, 2, 3]|first }}|{{ [1, 2, 3]|last }}|{{ 'ab'|list }}|{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}|{{ ['b', 'A', 'a']|sort }}|{{ ['b', 'A', 'a', 'B']|unique|list }}|{{ [1, 2, 3]|reverse|list }}|{{ [1, 2, 3]|sum }}|{{ [3, 1, 2]|min }}|{{ [3, 1, 2]|max }}|{{ []|first is defined }}", {}),
    ("filters/dicts", "{{ d|items|list }}|{{ d|dictsort }}|{{ d|dictsort(by='value') }}|{{ d|dictsort(reverse=true) }}|{{ d|length }}|{{ d|list }}", {"d": {"b": 2, "a": 3, "C": 1}}),
    ("filters/numbers", "{{ '42'|int + 1 }}|{{ '4.5'|float }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|{{ 4.9|int }}|{{ -4.9|int }}|{{ 3|float }}|{{ -3|abs }}|{{ '3.7'|int }}", {}),
    ("filters/default", "{{ none|default('d') }}|{{ ''|default('d', true) }}|{{ ''|default('d') }}|{{ missing|d('x') }}|{{ 0|default(5, boolean=true) }}|{{ false|default('f') }}", {}),
    ("filters/map-select", "{{ users|map(attribute='name')|join(',') }}|{{ users|selectattr('admin')|map(attribute='name')|list }}|{{ users|rejectattr('admin')|map(attribute='name')|list }}|{{ [1, 2, 3, 4]|select('odd')|list }}|{{ [1, 2, 3, 4]|reject('odd')|list }}|{{ ['a', 'b']|map('upper')|list }}|{{ users|selectattr('name', 'equalto', 'bo')|list|length }}|{{ [0, 1, '', 'x']|select|list }}|{{ users|map(attribute='missing', default='?')|join }}|{{ users|sort(attribute='name', reverse=true)|map(attribute='name')|join }}", {"users": USERS}),
    ("filters/map-select-on-none", "{{ none|selectattr('type', 'equalto', 'x')|list }}{{ none|map(attribute='a')|list }}{{ none|select|list }}{{ none|rejectattr('a')|list|length > 0 }}", {}),
    ("filters/tojson", "{{ obj|tojson }}|{{ obj|tojson(indent=2) }}|{{ obj|tojson(sort_keys=true) }}|{{ [1.5, 2, true, none, 1e20, 0.1]|tojson }}|{{ {}|tojson(indent=2) }}|{{ []|tojson(indent=2) }}|{{ 'é😀'|tojson(ensure_ascii=true) }}|{{ obj.args|tojson(separators=(',', ':')) }}|{{ 'tab\\tctl\\x01'|tojson }}", {"obj": OBJ}),
    ("filters/indent", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(1, blank=true) }}|{{ 'x\\ny'|indent('> ') }}", {}),
    ("macro/defaults-and-keywords", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', punct='?') }} {{ greet(name='Cy') }}", {}),
    ("macro/call-block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner {{ 1 + 1 }}{% endcall %}", {}),
    ("set/block-and-tuple", "{% set x %}a{{ 1 }}b{% endset %}{{ x }}{{ x|length }}|{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set c, d = ['p', 'q'] %}{{ c }}{{ d }}", {}),
    ("generation-tag", "{% for m in turns %}{% generation %}[{{ m }}]{% endgeneration %}{% endfor %}", {"turns": ["a", "b"]}),
    ("strftime-now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %-d, %y %I%p %j') }}", {}),
    ("raise-exception", "{% if turns|length == 0 %}{{ raise_exception('No messages: ' ~ 1) }}{% endif %}ok", {"turns": []}),
    ("error/undefined-attribute", "{{ missing.attr }}", {}),
    ("error/undefined-arithmetic", "{{ missing + 1 }}", {}),
    ("error/string-plus-number", "{{ 'a' + 1 }}", {}),
    ("error/none-plus-string", "{{ none + 'a' }}", {}),
    ("error/unknown-function", "{{ no_such_function(1) }}", {}),
    ("error/list-append-refused", "{% set l = [] %}{{ l.append(1) }}", {}),
]


def render(template, variables):
    try:
        return {"expected": ENV.from_string(template).render(**variables)}
    except jinja2.exceptions.TemplateError as error:
        return {"error": type(error).__name__, "message": str(error)}
    except (TypeError, ValueError, ZeroDivisionError) as error:
        return {"error": type(error).__name__, "message": str(error)}


def main():
    cases = [{"name": name, "template": template, "variables": variables, **render(template, variables)}
             for name, template, variables in CASES]
    with open(os.path.join(HERE, "language.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} language cases written")

    with open(os.path.join(HERE, "fixtures.json"), encoding="utf-8") as f:
        fixtures = json.load(f)
    differences = 0
    for fixture in fixtures:
        with open(os.path.join(HERE, fixture["template"]), encoding="utf-8") as f:
            source = f.read()
        context = {"messages": fixture["messages"], "tools": fixture["tools"], "documents": None,
                   "add_generation_prompt": fixture["add_generation_prompt"]}
        for token in ("bos_token", "eos_token"):
            if fixture[token] is not None:
                context[token] = fixture[token]
        context.update(fixture["variables"])
        if ENV.from_string(source).render(**context) != fixture["expected"]:
            differences += 1
            print(f"Jinja2 and @huggingface/jinja differ on {fixture['name']}")
    print(f"{len(fixtures)} template fixtures checked against Jinja2 {jinja2.__version__}: {differences} differ")


main()
