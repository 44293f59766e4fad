"""Tests for berth.image.reference (cases largely after distribution's reference_test.go)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.image.reference import (
    NAME_TOTAL_LENGTH_MAX,
    Reference,
    is_full_id_prefix,
    normalize,
    parse,
    split_tag,
)

SHA = "sha256:" + "f" * 64
SHA512 = "sha512:" + "f" * 128
INVALID = "invalid reference format"
LOWERCASE = "invalid reference format: repository name must be lowercase"

VALID = [
    # input, registry, repository, tag, digest
    ("test_com", None, "test_com", None, None),
    ("test.com:tag", None, "test.com", "tag", None),
    ("test.com:5000", None, "test.com", "5000", None),
    ("test.com/repo:tag", "test.com", "repo", "tag", None),
    ("test:5000/repo", "test:5000", "repo", None, None),
    ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
    ("test:5000/repo@" + SHA, "test:5000", "repo", None, SHA),
    ("test:5000/repo:tag@" + SHA, "test:5000", "repo", "tag", SHA),
    ("lowercase:Uppercase", None, "lowercase", "Uppercase", None),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", None, None),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "some-long-tag",
        None,
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        None,
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
    ("xn--7o8h.com/myimage:xn--7o8h.com@" + SHA512, "xn--7o8h.com", "myimage", "xn--7o8h.com", SHA512),
    ("foo_bar.com:8080", None, "foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", None, "foo/foo_bar.com", "8080", None),
    ("192.168.1.1", None, "192.168.1.1", None, None),
    ("192.168.1.1:tag", None, "192.168.1.1", "tag", None),
    ("192.168.1.1:5000", None, "192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", None, None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None),
    ("a.b.c.d.e.f.g", None, "a.b.c.d.e.f.g", None, None),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", None, None),
    ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", None),
    ("[2001:db8::1]:5000/repo@" + SHA, "[2001:db8::1]:5000", "repo", None, SHA),
    ("[2001:db8::1]:5000/repo:tag@" + SHA, "[2001:db8::1]:5000", "repo", "tag", SHA),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None),
    ("[::1]:5000/repo", "[::1]:5000", "repo", None, None),
    ("localhost/busybox", "localhost", "busybox", None, None),
    ("localhost:5000/a", "localhost:5000", "a", None, None),
    ("Example.COM/foo", "Example.COM", "foo", None, None),
    ("library/busybox", None, "library/busybox", None, None),
    ("foo/bar/baz", None, "foo/bar/baz", None, None),
    ("a__b", None, "a__b", None, None),
    ("a--b", None, "a--b", None, None),
    ("a---b_c/d.e-f", None, "a---b_c/d.e-f", None, None),
    ("busybox:_tag.with-chars", None, "busybox", "_tag.with-chars", None),
    ("busybox:" + "t" * 128, None, "busybox", "t" * 128, None),
    ("a/" * 127 + "a:tag-puts-this-over-max", None, "a/" * 127 + "a", "tag-puts-this-over-max", None),
]

INVALID_CASES = [
    # input, exact message (None: anything starting with "invalid reference format")
    ("", "invalid reference format: repository name must have at least one component"),
    (":justtag", INVALID),
    ("@" + SHA, INVALID),
    ("repo@sha256:" + "f" * 63, "invalid reference format: invalid checksum digest length"),
    ("validname@invaliddigest:" + "f" * 64, "invalid reference format: unsupported digest algorithm"),
    ("repo@sha256:" + "F" * 64, "invalid reference format: invalid checksum digest format"),
    ("Uppercase:tag", LOWERCASE),
    ("Uppercase/lowercase:tag", LOWERCASE),
    ("test:5000/Uppercase/lowercase:tag", LOWERCASE),
    ("Foo", LOWERCASE),
    ("localhost/Foo", LOWERCASE),
    ("a/" * 128 + "a:tag", "invalid reference format: repository name must not be more than 255 characters"),
    ("aa/asdf$$^/aa", INVALID),
    ("a:b:c", INVALID),
    ("[2001:db8::1]", INVALID),
    ("[2001:db8::1]:5000", INVALID),
    ("[2001:db8::1]:tag", INVALID),
    ("[fe80::1%eth0]:5000/repo", INVALID),
    ("[fe80::1%@invalidzone]:5000/repo", INVALID),
    ("foo_bar.com:8080/app", INVALID),
    ("foo.com:http/repo", INVALID),
    ("-foo", INVALID),
    ("foo-", INVALID),
    ("foo/", INVALID),
    ("/foo", INVALID),
    ("foo//bar", INVALID),
    ("docker.io//busybox", INVALID),
    ("a___b", INVALID),
    ("a..b", INVALID),
    ("a._b", INVALID),
    ("busybox:", INVALID),
    ("busybox:-tag", INVALID),
    ("busybox:.tag", INVALID),
    ("busybox:" + "t" * 129, INVALID),
    ("busybox@", INVALID),
    ("busybox@sha256:abc", INVALID),
    ("busybox:latest\n", INVALID),
    (" busybox", INVALID),
    ("busybox:tag:other", INVALID),
    ("-bad.com/repo", INVALID),
    ("a.b_c/d", INVALID),  # "a.b_c" has a "." so it is a registry, and not a valid one
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), VALID)
def test_parse_valid(
    text: str, registry: str | None, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse(text)
    assert ref == Reference(registry, repository, tag, digest)
    assert ref.string() == text
    assert parse(ref.string()) == ref


@pytest.mark.parametrize(("text", "message"), INVALID_CASES)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "default_registry", "expected"),
    [
        ("busybox", None, Reference(None, "busybox", "latest", None)),
        ("busybox:1.36", None, Reference(None, "busybox", "1.36", None)),
        ("busybox@" + SHA, None, Reference(None, "busybox", None, SHA)),
        ("busybox:1@" + SHA, None, Reference(None, "busybox", "1", SHA)),
        ("library/busybox", None, Reference(None, "library/busybox", "latest", None)),
        ("localhost/busybox", None, Reference("localhost", "busybox", "latest", None)),
        ("docker.io/busybox", None, Reference("docker.io", "library/busybox", "latest", None)),
        ("docker.io/library/busybox", None, Reference("docker.io", "library/busybox", "latest", None)),
        ("docker.io/foo/bar:t", None, Reference("docker.io", "foo/bar", "t", None)),
        ("index.docker.io/busybox", None, Reference("docker.io", "library/busybox", "latest", None)),
        ("quay.io/busybox", None, Reference("quay.io", "busybox", "latest", None)),
        ("127.0.0.1:5000/x/y:tag@" + SHA, None, Reference("127.0.0.1:5000", "x/y", "tag", SHA)),
        ("busybox", "docker.io", Reference("docker.io", "library/busybox", "latest", None)),
        ("foo/bar", "docker.io", Reference("docker.io", "foo/bar", "latest", None)),
        ("busybox", "quay.io", Reference("quay.io", "busybox", "latest", None)),
        ("busybox", "localhost", Reference("localhost", "busybox", "latest", None)),
        ("localhost/busybox", "quay.io", Reference("localhost", "busybox", "latest", None)),
        ("a__b/c--d/e.f", None, Reference(None, "a__b/c--d/e.f", "latest", None)),
    ],
)
def test_normalize(text: str, default_registry: str | None, expected: Reference) -> None:
    assert normalize(text, default_registry) == expected


@pytest.mark.parametrize("text", ["Foo", "a:b:c", "", "foo/Bar", "f" * 64])
def test_normalize_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        normalize(text)


def test_normalize_rejects_bad_default_registry() -> None:
    with pytest.raises(InvalidArgument):
        normalize("busybox", "not a registry")
    with pytest.raises(InvalidArgument):
        normalize("busybox", "noregistry")  # would read back as a repository path


def test_normalize_length_checked_after_prefix() -> None:
    repo = "a" * (NAME_TOTAL_LENGTH_MAX - 2)
    assert normalize(repo).repository == repo
    with pytest.raises(InvalidArgument, match="more than 255"):
        normalize(repo, "quay.io")


def test_name_string_and_with_tag() -> None:
    ref = parse("localhost:5000/a/b:1@" + SHA)
    assert ref.name() == "localhost:5000/a/b"
    assert str(ref) == ref.string() == "localhost:5000/a/b:1@" + SHA
    assert Reference(None, "busybox", None, None).name() == "busybox"
    tagged = ref.with_tag("2")
    assert tagged == Reference("localhost:5000", "a/b", "2", SHA)
    assert ref.tag == "1"
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        ref.with_tag("-bad")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", True),
        ("0123456789abcdef", True),
        ("f" * 64, True),
        ("ab", False),
        ("f" * 65, False),
        ("ABC", False),
        ("abg", False),
        ("", False),
        ("sha256:abc", False),
        ("abc\n", False),
    ],
)
def test_is_full_id_prefix(text: str, expected: bool) -> None:
    assert is_full_id_prefix(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", ("busybox", None)),
        ("busybox:1.36", ("busybox", "1.36")),
        ("localhost:5000/a", ("localhost:5000/a", None)),
        ("localhost:5000/a:t", ("localhost:5000/a", "t")),
        ("[::1]:5000/a", ("[::1]:5000/a", None)),
        ("[::1]:5000/a:t", ("[::1]:5000/a", "t")),
        ("a@" + SHA, ("a@" + SHA, None)),
        ("a:t@" + SHA, ("a@" + SHA, "t")),
    ],
)
def test_split_tag(text: str, expected: tuple[str, str | None]) -> None:
    assert split_tag(text) == expected


# --- property: parse(r.string()) == r for generated valid references ---

_domain_component = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True)
_port = st.integers(min_value=0, max_value=65535).map(str)
_host = st.one_of(
    st.just("localhost"),
    st.lists(_domain_component, min_size=2, max_size=4).map(".".join),
    st.lists(st.integers(0, 255).map(str), min_size=4, max_size=4).map(".".join),
    st.sampled_from(["[::1]", "[2001:db8::1]", "[fe80::1:2]"]),
)
_registry = st.one_of(
    st.none(),
    st.tuples(_host, st.none() | _port).map(lambda hp: hp[0] if hp[1] is None else f"{hp[0]}:{hp[1]}"),
    st.tuples(_domain_component, _port).map(lambda hp: f"{hp[0]}:{hp[1]}"),
)
_path_component = st.from_regex(r"[a-z0-9]{1,5}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,5}){0,3}", fullmatch=True)
_tag = st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", fullmatch=True)
_digest = st.none() | st.sampled_from(["sha256", "sha384", "sha512"]).flatmap(
    lambda algo: st.text(
        "0123456789abcdef",
        min_size={"sha256": 64, "sha384": 96, "sha512": 128}[algo],
        max_size={"sha256": 64, "sha384": 96, "sha512": 128}[algo],
    ).map(lambda hexpart: f"{algo}:{hexpart}")
)


@st.composite
def _references(draw: st.DrawFn) -> Reference:
    registry = draw(_registry)
    components = draw(st.lists(_path_component, min_size=1, max_size=5))
    if registry is None and len(components) > 1:
        # A short name whose first part looks like a registry would read back as one.
        assume("." not in components[0] and components[0] != "localhost")
    ref = Reference(registry, "/".join(components), draw(_tag), draw(_digest))
    assume(len(ref.name()) <= NAME_TOTAL_LENGTH_MAX)
    return ref


@given(_references())
def test_parse_roundtrip(ref: Reference) -> None:
    assert parse(ref.string()) == ref


@given(_references())
def test_normalize_is_idempotent(ref: Reference) -> None:
    once = normalize(ref.string())
    assert normalize(once.string()) == once
    assert once.tag is not None or once.digest is not None


@given(st.text(max_size=40))
def test_parse_never_crashes(text: str) -> None:
    try:
        ref = parse(text)
    except InvalidArgument as exc:
        assert str(exc).startswith(INVALID)
    else:
        assert parse(ref.string()) == ref


# The hand-written parser for common references must agree with the grammar's regexes wherever it
# answers at all (it leaves digests, IPv6 registries and every error to the regexes).
_REF_ALPHABET = "abcXYZ019._-:/@[]"


@given(st.text(alphabet=_REF_ALPHABET, max_size=40))
def test_simple_parser_agrees_with_the_grammar(s):
    from berth.image.reference import _parse_regex, _parse_simple

    simple = _parse_simple(s)
    try:
        full = _parse_regex(s)
    except InvalidArgument:
        full = None
    if simple is not None:
        assert simple == full, s
    elif full is not None:
        assert "@" in s or "[" in s, f"{s!r} is valid but the simple parser gave up on it"


@pytest.mark.parametrize("s", ["busybox", "localhost/busybox:latest", "quay.io:443/a/b-c__d.e:v1.0-rc",
                               "registry.example.com/team/app", "a---b", "127.0.0.1:5000/x:y"])
def test_simple_parser_takes_common_references(s):
    from berth.image.reference import _parse_regex, _parse_simple

    assert _parse_simple(s) == _parse_regex(s)
