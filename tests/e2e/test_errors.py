"""What a user sees when things go wrong: Podman's exit codes (125 engine error, 126 cannot invoke,
127 not found, and the per-command ones of rm, rmi, exec), one `Error: ...` line on stderr, and nothing
half-made left behind (no container record where creation failed, no mount, no conmon)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import conmons_for, mounts_under

IMG = "localhost/busybox"
# Containers get no network unless a test is about networking: bridge setup of parallel stores races on
# the host's shared podman0 bridge and its iptables chains (see the report), which is not what these test.
RUN = ("run", "--network", "none")
CREATE = ("create", "--network", "none")


def assert_error(r, code: int, *needles: str) -> str:
    """Exit code, and exactly one 'Error: ' line (cobra-style flag errors add a "See '... --help'" hint)."""
    assert r.returncode == code, f"exit {r.returncode}, wanted {code}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("Error: "), f"stderr: {r.stderr!r}"
    assert all(ln.startswith(("See 'berth ", "Try 'berth ")) for ln in lines[1:]), \
        f"more than one error line: {r.stderr!r}"
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def assert_nothing_left(b, *, containers: str = "") -> None:
    assert b.out("ps", "-a", "--format", "{{.Names}}") == containers
    assert not mounts_under(b.root), mounts_under(b.root)


# ------------------------------------------------------------------ unknown objects


@pytest.mark.parametrize("verb", [RUN, CREATE], ids=["run", "create"])
def test_unknown_image(bb, verb):
    r = bb(*verb, "--pull", "never", "localhost/nope", "true", check=False)
    assert_error(r, 125, "localhost/nope: image not known")
    assert r.stdout == ""
    assert_nothing_left(bb)


def test_unknown_image_that_cannot_be_pulled(bb):
    # the default --pull=missing tries the registry (here: nothing listens on localhost:443)
    r = bb(*RUN, "localhost/nope", "true", check=False, timeout=120)
    assert r.returncode == 125
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "localhost/nope" in last
    assert sum(ln.startswith("Error: ") for ln in r.stderr.splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert_nothing_left(bb)


@pytest.mark.parametrize("argv", [
    ["inspect", "--type", "container"], ["container", "inspect"], ["stop"], ["start"], ["logs"], ["kill"],
    ["wait"], ["restart"], ["port"], ["exec", "{}", "true"], ["rename", "{}", "new"], ["attach"],
], ids=lambda a: " ".join(a))
def test_unknown_container(bb, argv):
    args = [a.replace("{}", "nope") for a in argv] if "{}" in argv else [*argv, "nope"]
    r = bb(*args, check=False)
    assert_error(r, 125, "no such container")
    assert "nope" in r.stderr


def test_unknown_object_for_plain_inspect(bb):
    r = bb("inspect", "nope", check=False)
    assert_error(r, 125, 'no such object: "nope"')
    assert r.stdout.strip() == "[]"  # Podman prints the (empty) array, then the error


def test_inspect_prints_what_exists_and_fails_for_the_rest(bb):
    bb(*CREATE, "--name", "there", IMG, "true")
    r = bb("inspect", "--format", "{{.Name}}", "there", "nope", check=False)
    assert r.returncode == 125
    assert r.stdout == "there\n"
    assert_error(r, 125, 'no such object: "nope"')


def test_rm_of_unknown_container(bb):
    r = bb("rm", "nope", check=False)
    assert_error(r, 1, 'no container with name or ID "nope" found: no such container')  # Podman: 1
    r = bb("rm", "-f", "nope")  # --force ignores missing containers
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    bb(*CREATE, "--name", "real", IMG, "true")
    r = bb("rm", "nope", "real", check=False)  # the others are still removed
    assert r.returncode == 1 and r.stdout == "real\n"
    assert_nothing_left(bb)


def test_image_inspect_of_unknown_image(bb):
    r = bb("image", "inspect", "localhost/nope", check=False)
    assert_error(r, 125, "localhost/nope: image not known")


@pytest.mark.parametrize("what", ["container", "image"])
def test_exists_is_silent(bb, what):
    r = bb(what, "exists", "nope", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")


# ------------------------------------------------------------------ create-time failures


def test_name_already_in_use(bb):
    cid = bb.out(*CREATE, "--name", "dup", IMG, "true")
    r = bb(*CREATE, "--name", "dup", IMG, "true", check=False)
    assert_error(r, 125, 'the container name "dup" is already in use by', cid)
    r = bb(*RUN, "--rm", "--name", "dup", IMG, "true", check=False)
    assert_error(r, 125, "already in use")
    assert_nothing_left(bb, containers="dup")


def test_invalid_container_name(bb):
    r = bb(*CREATE, "--name", "bad name!", IMG, "true", check=False)
    assert_error(r, 125, "invalid argument")
    assert_nothing_left(bb)


def test_command_not_found(bb):
    r = bb(*RUN, "--rm", IMG, "/nope", check=False)
    assert_error(r, 127, "/nope", "OCI runtime attempted to invoke a command that was not found")
    assert_nothing_left(bb)
    r = bb(*RUN, "--rm", IMG, "nope-in-path", check=False)
    assert_error(r, 127, "nope-in-path")
    assert_nothing_left(bb)


def test_command_not_executable(bb):
    r = bb(*RUN, "--rm", IMG, "/etc/passwd", check=False)
    assert_error(r, 126, "/etc/passwd", "permission denied")
    assert_nothing_left(bb)
    r = bb(*RUN, "--rm", IMG, "/etc", check=False)
    assert r.returncode == 126
    assert_nothing_left(bb)


def test_failed_start_leaves_a_created_container_and_no_mount(bb):
    bb(*CREATE, "--name", "nf", IMG, "/nope")
    r = bb("start", "nf", check=False)  # start fails the Podman way: 125, not run's 127
    assert_error(r, 125, 'unable to start container "', "/nope")
    assert r.stdout == ""
    r = bb("start", "-a", "nf", check=False)
    assert_error(r, 125, "unable to start container", "/nope")
    assert_nothing_left(bb, containers="nf")
    assert bb.out("ps", "-a", "--format", "{{.Status}}") == "Created"
    assert not conmons_for(bb.root)
    # a `run` that cannot start its container leaves none behind, with or without --rm
    r = bb(*RUN, "--name", "nf2", IMG, "/nope", check=False)
    assert_error(r, 127, "/nope")
    assert_nothing_left(bb, containers="nf")



def test_start_failing_while_the_rootfs_is_prepared_leaves_no_conmon(bb):
    # conmon is started before the rootfs and config.json exist (it waits on its start pipe); a
    # failure in between, here a volume whose tmpfs mount the kernel refuses, must end it
    bb("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=bogus", "badv")
    r = bb(*RUN, "--rm", "-v", "badv:/x", IMG, "true", check=False)
    assert_error(r, 125, "mounting volume badv")
    assert_nothing_left(bb)
    assert not conmons_for(bb.root)
    bb(*CREATE, "--name", "bv", "-v", "badv:/x", IMG, "true")
    r = bb("start", "bv", check=False)
    assert_error(r, 125, "mounting volume badv")
    assert_nothing_left(bb, containers="bv")
    assert bb.out("ps", "-a", "--format", "{{.Status}}") == "Created"
    assert not conmons_for(bb.root)

def test_invalid_detach_keys_create_nothing(bb):
    r = bb(*RUN, "--rm", "--detach-keys", "bogus-key", IMG, "true", check=False)
    assert_error(r, 125, "invalid detach keys: bogus-key")
    assert_nothing_left(bb)


def test_unknown_user(bb):
    r = bb(*RUN, "--rm", "-u", "nouser", IMG, "true", check=False)
    assert_error(r, 126, "unable to find user nouser")
    assert_nothing_left(bb)


@pytest.mark.parametrize(("flags", "needle"), [
    (["--memory", "abc"], "abc"),
    (["--memory", "1k"], "memory"),
    (["--restart", "bogus"], '"bogus" is not a valid restart policy'),
    (["--restart", "on-failure:x"], "x"),
    (["--rm", "--restart", "always"], "conflicts"),
    (["--ulimit", "bad"], "ulimit"),
    (["--ulimit", "nofile=200:100"], "ulimit"),
    (["--cpus", "abc"], "abc"),
    (["--pids-limit", "x"], "pids-limit"),
    (["--stop-signal", "BOGUS"], "BOGUS"),
    (["--stop-timeout", "x"], "stop-timeout"),
    (["--cap-add", "BOGUS"], "BOGUS"),
    (["--cap-drop", "BOGUS"], "BOGUS"),
    (["--tmpfs", "relative"], 'invalid container path "relative", must be an absolute path'),
    (["--network", "bogus"], "network not found"),
    (["--security-opt", "bogus"], "bogus"),
    (["--env-file", "/nonexistent/env"], "/nonexistent/env"),
    (["--entrypoint", ""], "no command"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_invalid_flag_values(bb, flags, needle):
    cmd = [] if flags == ["--entrypoint", ""] else ["true"]
    for verb in (CREATE, RUN):
        r = bb(*(verb[:1] if "--network" in flags else verb), *flags, IMG, *cmd, check=False)
        assert_error(r, 125, needle)
        assert r.stdout == ""
        assert_nothing_left(bb)


@pytest.mark.parametrize("argv", [["stop", "-t", "x", "c"], ["rm", "-t", "x", "c"], ["restart", "-t", "x", "c"]])
def test_invalid_time(bb, argv):
    r = bb(*argv, check=False)
    assert_error(r, 125, 'invalid argument "x" for "-t, --time" flag')


def test_invalid_cidfile(bb):
    cidfile = bb.base / "cid"
    cidfile.write_text("taken")
    r = bb(*RUN, "--rm", "--cidfile", str(cidfile), IMG, "true", check=False)
    assert_error(r, 125, "container id file exists")
    assert cidfile.read_text() == "taken"
    assert_nothing_left(bb)


def test_unknown_flag_and_command(bb):
    r = bb(*RUN, "--bogus", IMG, "true", check=False)
    line = assert_error(r, 125, "unknown flag: --bogus")
    assert line == "Error: unknown flag: --bogus"
    assert "See 'berth run --help'" in r.stderr
    r = bb("ps", "--bogus", check=False)
    assert_error(r, 125, "unknown flag: --bogus")
    r = bb("bogus", check=False)
    assert_error(r, 125, "unrecognized command `berth bogus`")
    r = bb(*RUN, check=False)
    assert_error(r, 125)
    assert_nothing_left(bb)


def test_import_of_a_missing_file(berth):
    r = berth("import", "/nonexistent.tar", "localhost/x", check=False)
    assert_error(r, 125, "/nonexistent.tar", "no such file or directory")
    assert berth.out("images", "-q") == ""


def test_a_root_that_is_a_file(berth, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("not a directory\n")
    r = subprocess.run([*berth.argv("ps")[:3], "--root", str(plain / "root"), "--runroot", str(plain / "run"),
                        "ps", "-a"], capture_output=True, text=True, timeout=60)
    assert_error(r, 125, str(plain), "not a directory")
    assert plain.read_text() == "not a directory\n"


def test_import_of_something_that_is_not_a_tar(berth):
    junk = berth.base / "junk.tar"
    junk.write_bytes(b"this is not a tarball\n" * 100)
    r = berth("import", str(junk), "localhost/junk", check=False)
    assert_error(r, 125)
    assert berth.out("images", "-q") == ""


# ------------------------------------------------------------------ wrong state


def test_rm_of_a_running_container_without_force(bb):
    bb(*RUN, "-d", "--name", "busy", IMG, "sleep", "30")
    r = bb("rm", "busy", check=False)
    assert_error(r, 2, "cannot remove container", "as it is running", "container state improper")
    assert bb.out("ps", "--format", "{{.Names}}") == "busy"
    bb("stop", "-t", "0", "busy")


def test_stop_of_a_stopped_container_is_not_an_error(bb):
    bb(*RUN, "--name", "done", IMG, "true")
    r = bb("stop", "done")
    assert (r.returncode, r.stdout, r.stderr) == (0, "done\n", "")
    bb(*CREATE, "--name", "fresh", IMG, "true")
    assert bb.out("stop", "fresh") == "fresh"


def test_exec_in_a_stopped_container(bb):
    bb(*RUN, "--name", "done", IMG, "true")
    r = bb("exec", "done", "true", check=False)
    # Podman (2.0 and later) exits 255 here, not 125; scripts (e.g. resource agents) test for it
    assert_error(r, 255, "can only create exec sessions on running containers: container state improper")
    bb(*CREATE, "--name", "fresh", IMG, "true")
    assert_error(bb("exec", "fresh", "true", check=False), 255, "container state improper")


def test_exec_without_a_command(bb):
    bb(*RUN, "-d", "--name", "up", IMG, "sleep", "30")
    r = bb("exec", "up", check=False)
    assert_error(r, 255, "must provide a non-empty command to start an exec session")
    bb("stop", "-t", "0", "up")


def test_exec_command_not_found_or_not_executable(bb):
    bb(*RUN, "-d", "--name", "up", IMG, "sleep", "30")
    assert_error(bb("exec", "up", "/nope", check=False), 127, "/nope", "not found")
    assert_error(bb("exec", "up", "nope-in-path", check=False), 127, "nope-in-path")
    assert_error(bb("exec", "up", "/etc/passwd", check=False), 126, "/etc/passwd", "permission denied")
    assert_error(bb("exec", "-u", "nouser", "up", "true", check=False), 126, "unable to find user nouser")
    bb("stop", "-t", "0", "up")


def test_kill_of_a_stopped_container(bb):
    bb(*RUN, "--name", "done", IMG, "true")
    r = bb("kill", "done", check=False)
    assert_error(r, 125, "can only kill running containers", "container state improper")
    r = bb("kill", "-s", "BOGUS", "done", check=False)
    assert_error(r, 125, "invalid signal")


def test_start_attach_of_a_running_container(bb):
    bb(*RUN, "-d", "--name", "up", IMG, "sleep", "30")
    assert_error(bb("start", "-a", "up", check=False), 125, "already running")
    bb("stop", "-t", "0", "up")


def test_logs_with_a_bad_time(bb):
    bb(*RUN, "--name", "done", IMG, "true")
    assert_error(bb("logs", "--since", "bogus", "done", check=False), 125, "bogus")
    assert_error(bb("logs", "--until", "bogus", "done", check=False), 125, "bogus")
    assert_error(bb("logs", "--tail", "x", "done", check=False), 125, "x")


def test_ps_with_a_bad_filter(bb):
    assert_error(bb("ps", "--filter", "bogus=1", check=False), 125, "bogus")
    assert_error(bb("ps", "-a", "--filter", "status=bogus", check=False), 125, "bogus")


def test_bad_format_template(bb):
    bb(*CREATE, "--name", "c", IMG, "true")
    r = bb("ps", "-a", "--format", "{{.Nope}}", check=False)
    assert_error(r, 125, "Nope")
    r = bb("inspect", "--format", "{{.State.Nope}}", "c", check=False)
    assert_error(r, 125, "Nope")
    r = bb("inspect", "--format", "{{.State.Status", "c", check=False)
    assert_error(r, 125)
