"""Tests for berth.cli.format.gotemplate (Go text/template subset for --format).

Expected strings were calibrated against podman 4.3.1 (``podman version --format``)
where the construct is available there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from berth.cli.format.gotemplate import (
    GoMap,
    Template,
    compile_template,
    parse_format,
    render,
    render_rows,
    tabwrite,
)
from berth.errors import InvalidArgument

CTR = {
    "ID": "3f2a9c1b7d8e",
    "Names": "web",
    "Image": "docker.io/library/nginx:latest",
    "State": "running",
    "Config": {"Labels": {"k": "v", "app": "nginx"}, "Cmd": ["nginx", "-g", "daemon off;"]},
    "Mounts": [{"Destination": "/data", "Source": "/srv"}, {"Destination": "/etc/x", "Source": "/x"}],
    "Ports": [],
    "Size": 1.0,
    "Restarts": 0,
    "Healthy": True,
    "Pod": None,
}


def r(src: str, data: object = CTR) -> str:
    return render(src, data)


def err(src: str, data: object = CTR) -> str:
    with pytest.raises(InvalidArgument) as exc:
        render(src, data)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------- data access

@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{.ID}} {{.Names}}", "3f2a9c1b7d8e web"),
        ('{{index .Config.Labels "k"}}', "v"),
        ('{{index .Config.Labels "missing"}}|', "|"),
        ("{{range .Mounts}}{{.Destination}} {{end}}", "/data /etc/x "),
        ("{{json .Config.Cmd}}", '["nginx","-g","daemon off;"]'),
        ('{{if eq .State "running"}}up{{else}}down{{end}}', "up"),
        ("{{.Config.Labels.app}}", "nginx"),
        ("{{.names}} {{.config.labels.APP}}", "web nginx"),  # case-insensitive retry
        ("{{$.ID}}", "3f2a9c1b7d8e"),
        ("{{with .Config}}{{$.Names}}:{{.Labels.k}}{{end}}", "web:v"),
        ("{{(index .Mounts 1).Source}}", "/x"),
        ("{{index .Mounts 0 | json}}", '{"Destination":"/data","Source":"/srv"}'),
        ("{{.Config.Cmd}}", "[nginx -g daemon off;]"),
        ("{{.Size}} {{.Restarts}} {{.Healthy}} {{.Pod}}", "1 0 true <nil>"),
    ],
)
def test_podman_typical(src: str, want: str) -> None:
    assert r(src) == want


def test_dot_and_root() -> None:
    assert r("{{.}}", "x") == "x"
    assert r("{{range .}}{{.}}/{{$}}{{end}}", ["a", "b"]) == "a/[a b]b/[a b]"


@dataclass
class Obj:
    Name: str
    Tags: list[str] = field(default_factory=list)

    def Greet(self, who: str) -> str:  # noqa: N802 - Go-style method name
        return f"hi {who} from {self.Name}"


def test_objects_attributes_and_methods() -> None:
    o = Obj("box", ["a", "b"])
    assert r("{{.Name}} {{.Tags}} {{.name}}", o) == "box [a b] box"
    assert r('{{.Greet "bob"}}|{{"amy" | .Greet}}', o) == "hi bob from box|hi amy from box"
    assert r("{{.}}", o) == "{box [a b]}"
    assert r("{{json .}}", o) == '{"Name":"box","Tags":["a","b"]}'


def test_gomap_missing_key_prints_no_value() -> None:
    data = {"Labels": GoMap(b="2", a="1")}
    assert r("{{.Labels.x}}|{{.Labels.a}}", data) == "<no value>|1"
    assert r("{{if .Labels.x}}y{{else}}n{{end}}", data) == "n"
    assert r("{{json .Labels}} {{.Labels}}", data) == '{"a":"1","b":"2"} map[a:1 b:2]'


# ----------------------------------------------------------------- variables

def test_variables() -> None:
    assert r("{{$x := .Names}}{{$x}}-{{$x = upper $x}}{{$x}}") == "web-WEB"
    assert r("{{range $i, $m := .Mounts}}{{$i}}={{$m.Destination}};{{end}}") == "0=/data;1=/etc/x;"
    assert r("{{range $m := .Mounts}}{{$m.Source}}{{end}}") == "/srv/x"
    assert r('{{$n := 0}}{{range .Mounts}}{{$n = .Source}}{{end}}{{$n}}') == "/x"
    assert r("{{with $c := .Config}}{{len $c.Labels}}{{end}}") == "2"
    assert r("{{range $k, $v := .}}{{$k}}={{$v}},{{end}}", {"b": 2, "a": 1}) == "a=1,b=2,"
    assert r("{{$k := 0}}{{$v := 0}}{{range $k, $v = .}}{{end}}{{$k}}={{$v}}", {"b": 2, "a": 1}) == "b=2"


def test_variable_scope_errors() -> None:
    assert err("{{if 1}}{{$z := 2}}{{end}}{{$z}}") == 'template: format:1: undefined variable "$z"'
    assert 'undefined variable "$y"' in err("{{$y = 3}}")


# ----------------------------------------------------------------- control flow

@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{if .Ports}}p{{else if .Healthy}}h{{else}}n{{end}}", "h"),
        ("{{if .Pod}}p{{else if .Ports}}q{{else}}n{{end}}", "n"),
        ("{{if and .Healthy .Names}}yes{{end}}", "yes"),
        ("{{if not .Ports}}empty{{end}}", "empty"),
        ("{{range .Ports}}x{{else}}none{{end}}", "none"),
        ("{{range .Pod}}x{{else}}nil{{end}}", "nil"),
        ("{{range .Config.Labels}}{{.}},{{end}}", "nginx,v,"),  # sorted by key
        ("{{with .Pod}}has{{else}}no pod{{end}}", "no pod"),
        ("{{with .Config.Labels}}{{.k}}{{end}}", "v"),
        ("{{with .Pod}}a{{else with .Names}}{{.}}{{end}}", "web"),
        ('{{range split "a b c" " "}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', "ac"),
        ('{{range split "a b c" " "}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', "a"),
        ("{{range 3}}{{.}}{{end}}", "012"),
    ],
)
def test_control(src: str, want: str) -> None:
    assert r(src) == want


@pytest.mark.parametrize(
    ("value", "truthy"),
    [("", False), ("x", True), (0, False), (0.0, False), (3, True), (None, False), ([], False),
     ([0], True), ({}, False), ({"a": 1}, True), (False, False), (True, True), (Obj("o"), True)],
)
def test_truthiness(value: object, truthy: bool) -> None:
    assert r("{{if .V}}T{{else}}F{{end}}", {"V": value}) == ("T" if truthy else "F")


def test_comments_and_trim_markers() -> None:
    assert r("a {{- /* c */ -}} b") == "ab"
    assert r("a{{/* multi\nline */}}b") == "ab"
    assert r("x  {{- .Names -}}  \n y") == "xweby"
    assert r("{{- /* c */ -}}\n{{.Names}}") == "web"
    assert r("{{-3}}") == "-3"  # not a trim marker without the space
    assert r("{{if .Healthy -}}\n  ok\n{{- end}}") == "ok"


# ----------------------------------------------------------------- literals

def test_literals() -> None:
    assert r(r'{{"a\tb\n\"q\"\\\x41\u00e9"}}') == 'a\tb\n"q"\\Aé'
    assert r(r"{{`raw\t{{x}}`}}") == r"raw\t{{x}}"
    assert r("{{'a'}} {{0x1F}} {{017}} {{1_000}} {{-3}} {{1.5}} {{1.0}} {{1e3}}") == "97 31 15 1000 -3 1.5 1 1000"
    assert r("{{true}} {{false}} {{print nil}}") == "true false <nil>"
    assert r('{{(printf "%s-%s" "a" (upper "b"))}}') == "a-B"
    assert r('{{print (1)}} {{len (split "a,b" ",")}}') == "1 2"


# ----------------------------------------------------------------- builtins

@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{and 1 0}} {{and 1 2}} {{or 0 \"\"}} {{or 0 \"x\"}} {{not 1}} {{not .Ports}}", "0 2  x false true"),
        ('{{or .Names (index .Mounts 99)}}', "web"),  # short-circuit: index not evaluated
        ('{{len "abc"}} {{len "é"}} {{len .Mounts}} {{len .Config.Labels}}', "3 2 2 2"),
        ('{{index "abc" 1}} {{index .Config.Cmd 2}}', "98 daemon off;"),
        ('{{print 1 2 "a" "b" 3}}', "1 2ab3"),
        ('{{println "a" 1 "b"}}', "a 1 b\n"),
        ('{{eq 1 2 1}} {{eq .State "x" "running"}} {{ne 1 2}} {{eq .Pod nil}}', "true true true true"),
        ('{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge "b" "a"}} {{lt 1 1.5}}', "true true false true true"),
    ],
)
def test_builtins(src: str, want: str) -> None:
    assert r(src) == want


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ('{{printf "%s|%-10s|%10s|%.2s" "a" "left" "right" "abcdef"}}', "a|left      |     right|ab"),
        ('{{printf "%d|%05d|%+d|%x|%X|%#x|%o|%b|%c|%U" 42 -42 4 255 255 255 8 5 65 65}}',
         "42|-0042|+4|ff|FF|0xff|10|101|A|U+0041"),
        ('{{printf "%v|%v|%v|%v" 1.5 true .Config.Cmd .Pod}}', "1.5|true|[nginx -g daemon off;]|<nil>"),
        ('{{printf "%q|%q" "a\\"b\\n" 65}}', "\"a\\\"b\\n\"|'A'"),
        ('{{printf "%5.2f|%e|%g|%g" 3.14159 1234.5 1.23456789 1000000.5}}',
         " 3.14|1.234500e+03|1.23456789|1.0000005e+06"),
        ('{{printf "%t|%T|%T|%5t" true 1.5 "s" false}}', "true|float64|string|false"),
        ('{{printf "%d %s" "x" 5}}', "%!d(string=x) %!s(int=5)"),
        ('{{printf "%d"}}|{{printf "%d" 1 2 "a"}}', "%!d(MISSING)|1%!(EXTRA int=2, string=a)"),
        ('{{printf "100%%"}}|{{printf "%"}}|{{printf "%*d" 5 3}}', "100%|%!(NOVERB)|    3"),
        ('{{.Names | printf "%s-%s" "v"}}', "v-web"),
    ],
)
def test_printf(src: str, want: str) -> None:
    assert r(src) == want


# ----------------------------------------------------------------- podman helpers

@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{.Names | upper}} {{upper .State}} {{lower \"AbC\"}}", "WEB RUNNING abc"),
        ('{{title "hello-wORLD foo_bar x.y élan"}}', "Hello-WORLD Foo_bar X.Y Élan"),
        ('{{join .Config.Cmd ","}}', "nginx,-g,daemon off;"),
        ('{{join (split "a b c" " ") "-"}} {{split "a,b" ","}}', "a-b-c [a b]"),
        ('{{truncate .ID 5}} {{truncate "ab" 5}}', "3f2a9 ab"),
        ('{{pad "ab" 1 2}}|{{pad "" 1 2}}|', " ab  ||"),
        ('{{contains .Image "nginx"}} {{contains .Image "redis"}}', "true false"),
        ('{{replace "aaa" "a" "b"}} {{replace "aaa" "a" "b" 2}}', "bbb bba"),
        ('{{trim "  x  "}}|{{yn .Healthy}} {{yn .Ports}}', "x|yes no"),
    ],
)
def test_podman_helpers(src: str, want: str) -> None:
    assert r(src) == want


def test_json_is_compact_and_go_like() -> None:
    data = {"B": 1, "A": [1.0, 2.5, None, True], "C": {"z": "<&>", "a": "é"}}
    assert r("{{json .}}", data) == '{"B":1,"A":[1,2.5,null,true],"C":{"z":"<&>","a":"é"}}'
    assert r("{{json .Names}} {{json 3}}") == '"web" 3'


# ----------------------------------------------------------------- value printing

def test_value_printing() -> None:
    data = {"L": ["a", 1, 2.0, None, True], "M": {"b": [1], "a": "x"}, "F": 2.5, "E": 1e21, "S": 1e-5}
    assert r("{{.L}}", data) == "[a 1 2 <nil> true]"
    assert r("{{.M}}", data) == "map[a:x b:[1]]"
    assert r("{{.F}} {{.E}} {{.S}} {{1000000.5}} {{123456.5}}", data) == "2.5 1e+21 1e-05 1.0000005e+06 123456.5"


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{foo}}", 'template: format:1: function "foo" not defined'),
        ("{{.ID", "template: format:1: unclosed action"),
        ("{{.ID}}\n{{.Names", "template: format:2: unclosed action"),
        ("{{/* x", "template: format:1: unclosed comment"),
        ("{{/* c */ }}", "template: format:1: comment ends before closing delimiter"),
        ('{{"a}}', "template: format:1: unterminated quoted string"),
        ("{{3x}}", 'template: format:1: bad number syntax: "3x"'),
        ("{{#}}", 'template: format:1: unexpected "#" in command'),
        ("{{.ID 1)}}", 'template: format:1: unexpected right paren'),
        ("{{(.ID}}", 'template: format:1: unclosed left paren'),
        ("{{.ID.}}", 'template: format:1: unexpected "." in operand'),
        ("{{if 1}}{{end x}}", 'template: format:1: unexpected "x" in end'),
        ('{{"\\q"}}', r'template: format:1: bad quoted string syntax: "\"\\q\""'),
        ("{{end}}", "template: format:1: unexpected {{end}}"),
        ("{{if 1}}x", "template: format:1: unexpected EOF"),
        ("{{if}}{{end}}", "template: format:1: missing value for if"),
        ("{{break}}", "template: format:1: {{break}} outside {{range}}"),
        ('{{"a" | "b"}}', "template: format:1: non executable command in pipeline stage 2"),
        ("{{template \"x\"}}", "template: format:1: {{template}} is not supported"),
        ("{{.Foo}}",
         'template: format:1:2: executing "format" at <.Foo>: can\'t evaluate field Foo in type '
         "map[string]interface {}"),
        ("{{.Pod.Name}}", 'template: format:1:2: executing "format" at <.Pod.Name>: '
         "nil pointer evaluating interface {}.Name"),
        ("{{index .Mounts 5}}", 'template: format:1:2: executing "format" at <index .Mounts 5>: '
         "error calling index: index out of range: 5"),
        ("{{ne 1 2 3}}", 'template: format:1:2: executing "format" at <ne>: '
         "wrong number of args for ne: want 2 got 3"),
        ('{{eq "a" 1}}', 'template: format:1:2: executing "format" at <eq "a" 1>: '
         "error calling eq: incompatible types for comparison"),
        ("{{len 3}}", 'template: format:1:2: executing "format" at <len 3>: error calling len: len of type int'),
        ("{{upper 1}}", 'template: format:1:2: executing "format" at <upper 1>: '
         "wrong type for value; expected string; got int"),
        ('{{"a" "b"}}', 'template: format:1:2: executing "format" at <"a">: '
         'can\'t give argument to non-function "a"'),
        ("{{nil}}", 'template: format:1:2: executing "format" at <nil>: nil is not a command'),
        ('{{range "abc"}}{{end}}', 'template: format:1:8: executing "format" at <"abc">: '
         "range can't iterate over abc"),
    ],
)
def test_errors(src: str, want: str) -> None:
    assert err(src) == want


def test_long_error_context_is_truncated() -> None:
    assert "at <index (split \"a,b\" \"...>" in err('{{index (split "a,b" ",") 5}}')


# ----------------------------------------------------------------- API

def test_compile_cache_and_execute() -> None:
    t = compile_template("{{.ID}}")
    assert isinstance(t, Template)
    assert compile_template("{{.ID}}") is t
    assert t.execute({"ID": 1}) == "1"
    assert t.execute({"ID": "x"}) == "x"


@pytest.mark.parametrize(
    ("fmt", "want"),
    [
        ("{{.ID}}", (False, "{{.ID}}")),
        (r"{{.ID}}\t{{.Names}}\n", (False, "{{.ID}}\t{{.Names}}\n")),
        (r"table {{.ID}}\t{{.Image}}", (True, "{{.ID}}\t{{.Image}}")),
        ("table {{.ID}} {{.Image}}", (True, "{{.ID}}\t{{.Image}}")),
        ('table {{ index .Labels "a b" }}: x', (True, '{{ index .Labels "a b" }}:\tx')),
        ("tablet {{.ID}}", (False, "tablet {{.ID}}")),
    ],
)
def test_parse_format(fmt: str, want: tuple[bool, str]) -> None:
    assert parse_format(fmt) == want


ROWS = [
    {"ID": "3f2a9c1b7d8e", "Image": "docker.io/library/nginx:latest", "Names": "web", "Status": "Up"},
    {"ID": "aa11", "Image": "alpine", "Names": "a-much-longer-name", "Status": "Exited (0)"},
]
HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES"}


def test_render_rows_table_header_alignment() -> None:
    out = render_rows(r"table {{.ID}}\t{{.Image}}", ROWS, HEADERS)
    assert out == (
        "CONTAINER ID  IMAGE\n"
        "3f2a9c1b7d8e  docker.io/library/nginx:latest\n"
        "aa11          alpine\n"
    )


def test_render_rows_table_three_columns_minwidth() -> None:
    out = render_rows("table {{.Names}}\t{{.Status}}\t{{.ID}}", ROWS, HEADERS)
    assert out == (
        "NAMES               STATUS      CONTAINER ID\n"
        "web                 Up          3f2a9c1b7d8e\n"
        "a-much-longer-name  Exited (0)  aa11\n"
    )


def test_render_rows_table_spaces_become_columns_and_default_headers() -> None:
    out = render_rows("table {{.ID}} {{.Status}} {{.Names | upper}}", ROWS[:1], {})
    assert out == "ID            STATUS      NAMES\n3f2a9c1b7d8e  Up          WEB\n"


def test_render_rows_table_header_functions_and_chains() -> None:
    rows = [{"ID": "0123456789abcdef", "Config": {"Cmd": ["sh"], "Labels": {"x": "1"}}}]
    out = render_rows(r'table {{truncate .ID 12}}\t{{json .Config.Cmd}}\t{{index .Config.Labels "x"}}',
                      rows, HEADERS)
    assert out.splitlines()[0] == 'CONTAINER ID  "CMD"       LABELS'


def test_render_rows_table_empty_and_noheading() -> None:
    assert render_rows("table {{.ID}}\t{{.Names}}", [], HEADERS) == "CONTAINER ID  NAMES\n"
    assert render_rows("table {{.ID}}\t{{.Names}}", ROWS[:1], HEADERS, heading=False) == "3f2a9c1b7d8e  web\n"


def test_render_rows_plain() -> None:
    assert render_rows("{{.ID}} {{.Names}}", ROWS, HEADERS) == "3f2a9c1b7d8e web\naa11 a-much-longer-name\n"
    assert render_rows(r"{{.Names}}\n", ROWS) == "web\na-much-longer-name\n"
    assert render_rows(r"{{.Names}}\t{{.Status}}", ROWS) == "web\tUp\na-much-longer-name\tExited (0)\n"


def test_tabwrite() -> None:
    assert tabwrite(["A\tB\tC", "x\ty\tz"]) == "A           B           C\nx           y           z\n"
    assert tabwrite(["looooooooooong\tb", "c\td\n"]) == "looooooooooong  b\nc               d\n"
    # a line without tabs ends the column block (Go tabwriter semantics)
    assert tabwrite(["aaaaaaaaaaaaaaaa\tb", "---", "c\td"]) == (
        "aaaaaaaaaaaaaaaa  b\n---\nc           d\n")
    # empty cells are padded, trailing cell never is
    assert tabwrite(["\tx", "y\t"]) == "            x\ny           \n"
    assert tabwrite([]) == ""
