"""The command-line parser: pflag's rules (what Podman users type) and cobra's error wording."""

import subprocess
import sys

import pytest

from berth.cli import flagparse
from berth.cli.commands._createflags import add_create_flags
from berth.cli.main import parse_command_line


def run_parser() -> flagparse.ArgumentParser:
    p = flagparse.ArgumentParser(prog="berth run", add_help=False)
    add_create_flags(p, run=True)
    p.add_argument("--help", action="help")
    return p


def parse(*argv: str) -> flagparse.Namespace:
    return run_parser().parse_args(list(argv))


def error_of(capsys, argv: list[str], parser: flagparse.ArgumentParser | None = None) -> str:
    with pytest.raises(SystemExit) as e:
        (parser or run_parser()).parse_args(argv)
    assert e.value.code == 125
    return capsys.readouterr().err


def test_flags_values_and_the_command_line():
    a = parse("--rm", "--name", "web", "-e", "A=1", "--env=B=2", "-p8080:80", "-dit", "img", "sh", "-c", "echo hi")
    assert (a.rm, a.name, a.env, a.publish) == (True, "web", ["A=1", "B=2"], ["8080:80"])
    assert (a.detach, a.interactive, a.tty) == (True, True, True)
    assert (a.image, a.command) == ("img", ["sh", "-c", "echo hi"])


def test_defaults_are_fresh_per_parse():
    a, b = parse("-e", "X=1", "img"), parse("img")
    assert a.env == ["X=1"] and b.env == []
    assert (b.rm, b.name, b.entrypoint, b.pull, b.command) == (False, "", None, "missing", [])


def test_after_the_image_everything_is_the_command():
    # pflag with interspersed flags off, as Podman's run and exec: -it here belongs to the command
    a = parse("img", "-it", "--rm", "--", "x")
    assert (a.interactive, a.rm, a.command) == (False, False, ["-it", "--rm", "--", "x"])
    assert parse("img", "--", "echo", "hi").command == ["echo", "hi"]
    assert parse("--", "img", "echo").command == ["echo"]


def test_a_value_is_the_next_word_whatever_it_looks_like():
    a = parse("--stop-timeout", "-1", "--name", "-x", "-e", "--weird", "img")
    assert (a.stop_timeout, a.name, a.env) == ("-1", "-x", ["--weird"])
    assert parse("-e=FOO", "-u", "0:0", "img").env == ["FOO"]


def test_short_flag_taking_the_rest_of_its_cluster():
    a = parse("-itp80:80", "-uroot", "img")
    assert (a.interactive, a.tty, a.publish, a.user) == (True, True, ["80:80"], "root")


def test_errors_in_pflag_and_cobra_words(capsys):
    assert error_of(capsys, ["--bogus", "img"]) == "Error: unknown flag: --bogus\nSee 'berth run --help'\n"
    assert error_of(capsys, ["-Z", "img"]).startswith("Error: unknown shorthand flag: 'Z' in -Z\n")
    assert error_of(capsys, ["-iZ", "img"]).startswith("Error: unknown shorthand flag: 'Z' in -iZ\n")
    assert error_of(capsys, ["--name"]).startswith("Error: flag needs an argument: --name\n")
    assert error_of(capsys, ["-w"]).startswith("Error: flag needs an argument: 'w' in -w\n")
    assert error_of(capsys, []).startswith("Error: requires at least 1 arg(s), only received 0\n")
    assert error_of(capsys, ["--rm=maybe", "img"]).startswith(
        'Error: invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n')
    assert error_of(capsys, ["--pull", "sometimes", "img"]).startswith(
        'Error: invalid argument "sometimes" for "--pull" flag: valid values are "always", "missing"')


def test_the_command_line_swallows_what_follows_the_image(capsys):
    assert parse("img", "--name").command == ["--name"]


def positional_parser() -> flagparse.ArgumentParser:
    p = flagparse.ArgumentParser(prog="berth untag", add_help=False)
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("names", nargs="*", metavar="NAME")
    return p


def test_flags_may_follow_arguments():
    a = positional_parser().parse_args(["img", "n1", "-f", "n2"])
    assert (a.force, a.image, a.names) == (True, "img", ["n1", "n2"])
    a = positional_parser().parse_args(["--", "-img-", "-n"])
    assert (a.force, a.image, a.names) == (False, "-img-", ["-n"])


def test_argument_counts(capsys):
    exact = flagparse.ArgumentParser(prog="berth rename", add_help=False)
    exact.add_argument("container")
    exact.add_argument("name")
    # cobra's count errors come without the flag errors' "See '... --help'" line, as Podman prints them
    assert error_of(capsys, ["a"], exact) == "Error: accepts 2 arg(s), received 1\n"
    assert error_of(capsys, ["a", "b", "c"], exact).startswith("Error: accepts 2 arg(s), received 3\n")
    none = flagparse.ArgumentParser(prog="berth ps", add_help=False)
    none.add_argument("-a", "--all", action="store_true")
    assert error_of(capsys, ["x"], none) == "Error: `berth ps` takes no arguments\n"
    optional = flagparse.ArgumentParser(prog="berth port", add_help=False)
    optional.add_argument("container", nargs="?")
    optional.add_argument("port", nargs="?")
    assert vars(optional.parse_args(["c"])) == {"container": "c", "port": None}
    assert error_of(capsys, ["a", "b", "c"], optional).startswith("Error: accepts at most 2 arg(s), received 3\n")
    plus = flagparse.ArgumentParser(prog="berth tag", add_help=False)
    plus.add_argument("image")
    plus.add_argument("targets", nargs="+")
    assert error_of(capsys, ["a"], plus).startswith("Error: requires at least 2 arg(s), only received 1\n")
    assert plus.parse_args(["a", "b", "c"]).targets == ["b", "c"]


def test_optional_value_flags_take_a_value_only_after_equals():
    p = flagparse.ArgumentParser(prog="berth pull", add_help=False)
    p.add_argument("--tls-verify", nargs="?", const=True, default=None,
                   type=lambda v: {"true": True, "false": False}[v])
    p.add_argument("images", nargs="+")
    assert p.parse_args(["--tls-verify", "img"]).tls_verify is True  # `img` is not its value
    assert p.parse_args(["--tls-verify=false", "img"]).tls_verify is False
    assert p.parse_args(["img"]).tls_verify is None


def test_type_errors(capsys):
    p = flagparse.ArgumentParser(prog="berth ps", add_help=False)
    p.add_argument("-n", "--last", type=int, default=-1)

    def strict(v: str) -> bool:
        raise flagparse.ArgumentTypeError(f"no: {v}")

    p.add_argument("--strict", type=strict)
    assert p.parse_args(["-n", "3"]).last == 3
    assert error_of(capsys, ["-n", "x"], p).startswith(
        'Error: invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax\n')
    assert error_of(capsys, ["--strict", "v"], p).startswith("Error: no: v\n")


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as e:
        parse("--help")
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Usage:\n  berth run [options] IMAGE [COMMAND [ARG...]]\n" in out
    assert "  -e, --env stringArray" in out and "      --rm " in out and "      --name string" in out


def test_global_flags_before_and_after_the_command():
    a = parse_command_line(["--root", "/r", "run", "--runroot", "/rr", "--rm", "img", "true"])
    assert (a.root, a.runroot, a.rm, a.image, a.command, a._cmd) == ("/r", "/rr", True, "img", ["true"], "run")
    assert a.log_level == "warn" and a.cgroup_manager == "cgroupfs"
    a = parse_command_line(["container", "rm", "-f", "c1"])
    assert (a._cmd, a.force, a.containers) == ("container rm", True, ["c1"])


def test_the_cli_imports_neither_argparse_nor_re_to_run_a_container():
    code = ("import sys; from berth.cli.main import parse_command_line;"
            "parse_command_line(['run', '--rm', '-it', 'img', 'true']);"
            "print(sorted(m for m in ('argparse', 're', 'enum', 'json') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}; {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_booleans_take_go_bool_values_after_equals():
    a = parse("--rm=false", "--init=true", "--privileged=1", "--read-only=F", "img")
    assert (a.rm, a.init, a.privileged, a.read_only) == (False, True, True, False)
    # what follows the image is the container's, word for word, even if it looks like a berth flag
    assert parse("--rm", "img", "prog", "--init=false", "--rm=true").command == ["prog", "--init=false", "--rm=true"]
    assert parse_command_line(["run", "--rm=true", "img", "x", "--rm=false"]).command == ["x", "--rm=false"]
