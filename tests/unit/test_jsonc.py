"""berth.util.jsonc must read and write exactly what the json module does with its defaults."""

import json
import math
import subprocess
import sys

import pytest

from berth.util import jsonc

VALUES = [
    {}, [], "", 0, -1, 2**70, 1.5, -0.0, 1e300, True, False, None, "é ü \u2603 \U0001f600", "tab\tnew\nquote\"\\",
    {"a": [1, {"b": None}], "ünï": "cödé", "nested": {"x": [[], {}, [1.25, "s"]]}},
    [float("inf"), float("-inf")],
    {"1": 1, "key with space": [True, False]},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_dumps_is_json_dumps(value):
    assert jsonc.dumps(value) == json.dumps(value)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_loads_reads_what_json_writes(value):
    text = json.dumps(value)
    assert jsonc.loads(text) == json.loads(text)
    assert jsonc.loads(text.encode()) == json.loads(text.encode())
    assert jsonc.loads(f" \n\t{text}\r\n ") == value


def test_nan_and_tuples_as_json_does():
    assert math.isnan(jsonc.loads("NaN"))
    assert jsonc.loads("[Infinity, -Infinity]") == [float("inf"), float("-inf")]
    assert jsonc.dumps((1, 2)) == "[1, 2]"
    assert jsonc.dumps({1: "int key", None: "none key"}) == json.dumps({1: "int key", None: "none key"})


@pytest.mark.parametrize("bad", ["", "   ", "{", "[1,]", '{"a" 1}', "1 2", "[1] x", "tru", '"unterminated',
                                 "\ufeff[]"])
def test_errors_are_json_decode_errors_at_the_same_place(bad):
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(bad)
    with pytest.raises(json.JSONDecodeError) as got:
        jsonc.loads(bad)
    assert (got.value.msg, got.value.pos) == (want.value.msg, want.value.pos)


def test_unserializable_and_circular_values_raise_as_json_does():
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsonc.dumps({"s": {1}})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        jsonc.dumps(loop)
    assert jsonc.dumps([[1], [1]]) == "[[1], [1]]"  # the same list twice is not a cycle


def test_importing_it_imports_neither_re_nor_json():
    code = ("import sys; from berth.util import jsonc; jsonc.loads(jsonc.dumps({'a': [1]}));"
            "print(sorted(m for m in ('re', 'json', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}; {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
