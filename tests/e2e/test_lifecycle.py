"""Container lifecycle through the CLI, as a user sees it: create/start/run/stop/kill/restart/rm/wait,
what each `run` flag does inside the container, and containers that outlive the CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from tests.conftest import conmons_for, mounts_under, until
from tests.tinyelf import write_all

IMG = "localhost/busybox"
# Containers get no network unless a test is about networking: bridge setup of parallel stores races on
# the host's shared podman0 bridge and its iptables chains (see the report), which is not what these test.
RUN = ("run", "--network", "none")
CREATE = ("create", "--network", "none")
ID64 = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_CAPS = "00000000800405fb"  # Podman's 11 default capabilities (containers.conf)


def _proc_net_dev_names(text: str) -> set[str]:
    return {ln.split(":", 1)[0].strip() for ln in text.splitlines()[2:] if ":" in ln}


def _store_processes(root: str) -> list[tuple[int, list[str]]]:
    """Every process whose command line names this store (berth CLIs, conmon, exit commands)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if any(root in a for a in argv):
            out.append((int(d), argv))
    return out


def _wait_for(pred, timeout: float = 10, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _status(b, name: str) -> str:
    return b.out("inspect", "--format", "{{.State.Status}}", name)


def _host_caps() -> tuple[int, int]:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        full = (1 << (int(f.read()) + 1)) - 1
    with open("/proc/self/status") as f:
        bnd = next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapBnd:"))
    return full, bnd


# ------------------------------------------------------------------ create / start / wait / rm


def test_create_start_wait_rm(bb):
    cid = bb.out(*CREATE, "--name", "c1", IMG, "sh", "-c", "echo hello")
    assert ID64.match(cid)
    assert _status(bb, "c1") == "created"
    assert bb.out("ps", "-a", "--format", "{{.Names}} {{.Status}}") == "c1 Created"
    assert bb.out("ps", "-q") == ""  # created is not running
    assert bb.out("start", "c1") == "c1"
    assert bb.out("wait", "c1") == "0"
    assert _status(bb, "c1") == "exited"
    assert bb.out("logs", "c1") == "hello"
    assert bb.out("rm", "c1") == "c1"
    assert bb.out("ps", "-aq") == ""
    assert bb("container", "exists", "c1", check=False).returncode == 1


def test_start_attach_streams_and_exit_code(bb):
    bb(*CREATE, "--name", "sa", IMG, "sh", "-c", "echo out; echo err >&2; exit 4")
    r = bb("start", "-a", "sa", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")
    assert bb.out("inspect", "--format", "{{.State.ExitCode}}", "sa") == "4"


def test_start_of_a_running_container_prints_nothing(bb):
    bb(*RUN, "-d", "--name", "up", IMG, "sleep", "30")
    bb(*CREATE, "--name", "down", IMG, "sleep", "30")
    assert bb.out("start", "up", "down") == "down"  # Podman skips the one already running
    assert bb.out("ps", "--format", "{{.Names}}").split() == ["up", "down"]
    bb("stop", "-t", "0", "up", "down")


# ------------------------------------------------------------------ run: streams, codes, stdin


def test_run_streams_and_exit_code(bb):
    r = bb(*RUN, "--rm", IMG, "sh", "-c", "echo to-out; echo to-err >&2; exit 3", check=False)
    assert r.returncode == 3
    assert r.stdout == "to-out\n"
    assert r.stderr == "to-err\n"
    assert bb.out("ps", "-aq") == ""  # --rm


def test_run_without_rm_keeps_the_exited_container(bb):
    r = bb(*RUN, "--name", "keep", IMG, "sh", "-c", "exit 7", check=False)
    assert r.returncode == 7
    assert bb.out("ps", "-a", "--format", "{{.Names}} {{.State}} {{.ExitCode}}") == "keep exited 7"
    assert bb.out("ps", "-a", "--format", "{{.Status}}").startswith("Exited (7) ")


ROOT_OPTS = 'grep " / / " /proc/self/mountinfo | grep -o volatile || echo synced'


def test_rm_containers_get_a_volatile_rootfs_and_can_still_be_restarted(bb):
    # as Podman's --rm: the overlay skips syncs to its upper dir (nothing of it outlives the container)
    assert bb.out(*RUN, "--rm", IMG, "sh", "-c", ROOT_OPTS) == "volatile"
    assert bb.out(*RUN, "--name", "kept", IMG, "sh", "-c", ROOT_OPTS) == "synced"
    bb("rm", "kept")
    # a volatile mount leaves a marker that makes the kernel refuse the next mount of the same layer
    bb(*RUN, "-d", "--rm", "--name", "rr", IMG, "sleep", "100")
    bb("restart", "-t", "0", "rr")
    assert bb.out("ps", "--format", "{{.Names}} {{.State}}") == "rr running"
    bb("rm", "-f", "-t", "0", "rr")
    assert not mounts_under(bb.root)

def test_restart_of_an_rm_container_is_not_undone_by_its_exit_command(bb):
    # conmon's exit command for the stopped process (cleanup, which removes a --rm container) runs
    # while restart starts the new one: restart holds the container's lock throughout, so the exit
    # command finds the container running again and leaves it alone
    cid = bb.out(*RUN, "-d", "--rm", "--name", "again", IMG, "sleep", "100")
    for _ in range(6):
        assert bb.out("restart", "-t", "0", "again") == "again"
        assert bb.out("ps", "--format", "{{.ID}} {{.State}}", "--no-trunc") == f"{cid} running"
    time.sleep(1)  # every exit command has long finished by now
    assert bb.out("ps", "-a", "--format", "{{.Names}} {{.State}}") == "again running"
    bb("rm", "-f", "-t", "0", "again")
    assert not mounts_under(bb.root)


def test_run_interactive_passes_stdin(bb):
    assert bb(*RUN, "-i", "--rm", IMG, "cat", input="hi\n").stdout == "hi\n"
    many = "".join(f"line {i}\n" for i in range(2000))
    assert bb(*RUN, "-i", "--rm", IMG, "wc", "-l", input=many).stdout.strip() == "2000"


def test_run_without_interactive_does_not_read_stdin(bb):
    r = bb(*RUN, "--rm", IMG, "cat", input="should not arrive\n", timeout=20)
    assert (r.returncode, r.stdout) == (0, "")


def test_run_detach_prints_the_id(bb):
    cid = bb.out(*RUN, "-d", "--name", "det", IMG, "sleep", "30")
    assert ID64.match(cid)
    assert bb.out("ps", "--no-trunc", "-q") == cid
    assert bb.out("inspect", "--format", "{{.Id}} {{.Name}}", "det") == f"{cid} det"
    bb("stop", "-t", "0", "det")


# ------------------------------------------------------------------ run flags, seen from inside


FLAG_EFFECTS = [
    pytest.param(["-u", "1000"], ["id", "-u"], "1000", id="user"),
    pytest.param(["-u", "1000:1001"], ["sh", "-c", "echo $(id -u):$(id -g)"], "1000:1001", id="user-group"),
    pytest.param(["-w", "/tmp"], ["pwd"], "/tmp", id="workdir"),
    pytest.param(["-h", "myhost"], ["hostname"], "myhost", id="hostname"),
    pytest.param(["-e", "FOO=bar", "--env", "X=1 2"], ["sh", "-c", "echo $FOO $X"], "bar 1 2", id="env"),
    pytest.param(["--entrypoint", "/bin/echo"], ["from", "entrypoint"], "from entrypoint", id="entrypoint"),
    pytest.param([], ["grep", "CapEff", "/proc/self/status"], f"CapEff:\t{DEFAULT_CAPS}", id="default-caps"),
    pytest.param(["--cap-drop", "ALL"], ["grep", "CapEff", "/proc/self/status"], "CapEff:\t0000000000000000",
                 id="cap-drop-all"),
    pytest.param(["--cap-add", "NET_ADMIN"], ["grep", "CapEff", "/proc/self/status"],
                 "CapEff:\t00000000800415fb", id="cap-add"),
    pytest.param(["--cap-drop", "chown"], ["grep", "CapEff", "/proc/self/status"],
                 "CapEff:\t00000000800405fa", id="cap-drop-one"),
    pytest.param(["--tmpfs", "/scratch"], ["sh", "-c", "grep ' /scratch ' /proc/mounts | cut -d' ' -f1-3"],
                 "tmpfs /scratch tmpfs", id="tmpfs"),
    pytest.param(["--ulimit", "nofile=100:200"], ["sh", "-c", "ulimit -n; ulimit -Hn"], "100\n200", id="ulimit"),
    pytest.param(["--memory", "64m"], ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"], "67108864",
                 id="memory"),
    pytest.param(["--pids-limit", "50"], ["cat", "/sys/fs/cgroup/pids/pids.max"], "50", id="pids-limit"),
    pytest.param(["--cpus", "0.5"], ["cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                                      "/sys/fs/cgroup/cpu/cpu.cfs_period_us"], "50000\n100000", id="cpus"),
    pytest.param(["--security-opt", "no-new-privileges"], ["grep", "NoNewPrivs", "/proc/self/status"],
                 "NoNewPrivs:\t1", id="no-new-privileges"),
    pytest.param([], ["grep", "NoNewPrivs", "/proc/self/status"], "NoNewPrivs:\t0", id="privs-by-default"),
]


@pytest.mark.parametrize(("flags", "cmd", "expected"), FLAG_EFFECTS)
def test_run_flag_effect_inside_the_container(bb, flags, cmd, expected):
    r = bb(*RUN, "--rm", *flags, IMG, *cmd)
    assert r.stdout.strip() == expected
    assert r.stderr == ""


def test_run_env_file(bb):
    envf = bb.base / "env.list"
    envf.write_text("# a comment\nFOO=from-file\n\nBAR=two words\n")
    out = bb.out(*RUN, "--rm", "--env-file", str(envf), "-e", "BAR=flag-wins", IMG, "sh", "-c", "echo $FOO/$BAR")
    assert out == "from-file/flag-wins"


def test_run_read_only(bb):
    r = bb(*RUN, "--rm", "--read-only", IMG, "touch", "/x", check=False)
    assert r.returncode == 1
    assert "Read-only file system" in r.stderr
    # as Podman's --read-only-tmpfs (on by default): /tmp, /run and /var/tmp stay writable
    assert bb.out(*RUN, "--rm", "--read-only", IMG, "sh", "-c", "touch /tmp/a /run/b /var/tmp/c && echo ok") == "ok"
    r = bb(*RUN, "--rm", "--read-only", "--read-only-tmpfs=false", IMG, "touch", "/tmp/a", check=False)
    assert r.returncode == 1 and "Read-only file system" in r.stderr


def test_run_init_is_pid_1(bb):
    assert bb.out(*RUN, "--rm", IMG, "cat", "/proc/1/comm") == "cat"
    comm = bb.out(*RUN, "--rm", "--init", IMG, "cat", "/proc/1/comm")
    assert comm and comm != "cat"
    # the init forwards signals and reaps: the command's exit code still comes through
    assert bb(*RUN, "--rm", "--init", IMG, "sh", "-c", "exit 9", check=False).returncode == 9


def test_run_network_none_has_only_loopback(bb):
    out = bb.out("run", "--rm", "--network", "none", IMG, "cat", "/proc/net/dev")
    assert _proc_net_dev_names(out + "\n") == {"lo"}
    assert bb.out("inspect", "--format", "{{.HostConfig.NetworkMode}}", bb.out(*CREATE, IMG, "true")) == "none"


def test_run_network_host_sees_the_host_interfaces(bb):
    script = "readlink /proc/self/ns/net; cat /proc/net/dev"
    host_ns = os.readlink("/proc/self/ns/net")
    with open("/proc/net/dev") as f:
        before = _proc_net_dev_names(f.read())
    first, _, dev = bb.out("run", "--rm", "--network", "host", IMG, "sh", "-c", script).partition("\n")
    with open("/proc/net/dev") as f:
        after = _proc_net_dev_names(f.read())
    assert first == host_ns  # the host's own network namespace
    inside = _proc_net_dev_names(dev + "\n")
    # other tests' containers add and remove veths meanwhile: compare with what was there throughout
    assert before & after <= inside <= before | after
    assert {"lo", "eth0"} <= inside
    assert bb.out(*RUN, "--rm", IMG, "readlink", "/proc/self/ns/net") != host_ns


def test_default_masked_and_readonly_paths(bb):
    with open("/proc/keys") as f:
        assert f.read(), "the host's /proc/keys should not be empty"
    script = ("test ! -s /proc/kcore && echo kcore-hidden; wc -c < /proc/keys; wc -c < /proc/timer_list; "
              "ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/hostname || echo sys-ro; "
              "echo 1 > /proc/sysrq-trigger || echo sysrq-ro")
    r = bb(*RUN, "--rm", IMG, "sh", "-c", script)
    assert r.stdout.split() == ["kcore-hidden", "0", "0", "0", "sys-ro", "sysrq-ro"]
    assert "Read-only file system" in r.stderr


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe programs are x86-64 machine code")
def test_seccomp_filter_keeps_i386_syscalls_and_x32_only_where_the_kernel_runs_them(bb, tmp_path):
    write_all(str(tmp_path))
    vol = ("-v", f"{tmp_path}:/p:ro")
    assert bb.out(*RUN, "--rm", IMG, "grep", "Seccomp:", "/proc/self/status").split() == ["Seccomp:", "2"]
    # a 32-bit binary's syscalls pass the filter: getpid answers 1, the container's pid 1
    assert bb(*RUN, "--rm", *vol, IMG, "/p/i386-getpid", check=False).returncode == 1
    host = subprocess.run([str(tmp_path / "x32-getpid")]).returncode
    inside = bb(*RUN, "--rm", *vol, IMG, "/p/x32-getpid", check=False).returncode
    if host == 256 - 38:  # ENOSYS: this kernel has no x32 ABI, so berth's filter leaves x32 out
        assert inside == 128 + signal.SIGSYS  # the filter's bad-arch action, where runc's full list says ENOSYS
    else:
        assert inside == 1


_FULL, _BND = _host_caps()


def test_run_privileged_gets_every_capability_the_host_has(bb):
    r = bb(*RUN, "--rm", "--privileged", IMG, "sh", "-c", "grep CapEff /proc/self/status; wc -c < /proc/keys",
           check=False)
    assert r.returncode == 0, r.stderr
    eff, keys = r.stdout.split("\n")[:2]
    assert int(eff.split()[1], 16) == _BND
    assert int(keys) > 0  # nothing masked


def test_run_labels_annotations_and_hostname_show_in_inspect(bb):
    bb(*RUN, "-d", "--name", "meta", "--label", "app=web", "-l", "tier=1", "--annotation", "an=av", "-h", "hh",
       "-e", "K=V", "-w", "/tmp", IMG, "sleep", "30")
    fmt = ('{{index .Config.Labels "app"}} {{index .Config.Labels "tier"}} {{index .Config.Annotations "an"}} '
           '{{.Config.Hostname}} {{.Config.WorkingDir}}')
    assert bb.out("inspect", "--format", fmt, "meta") == "web 1 av hh /tmp"
    assert "K=V" in bb.out("inspect", "--format", "{{.Config.Env}}", "meta")
    assert bb.out("ps", "--filter", "label=app=web", "--format", "{{.Names}}") == "meta"
    bb("stop", "-t", "0", "meta")


def test_run_name_replace_and_cidfile(bb):
    old = bb.out(*RUN, "-d", "--name", "web", IMG, "sleep", "30")
    r = bb(*RUN, "-d", "--name", "web", IMG, "sleep", "30", check=False)
    assert r.returncode == 125 and "already in use" in r.stderr
    cidfile = bb.base / "cid"
    new = bb.out(*RUN, "-d", "--replace", "--name", "web", "--cidfile", str(cidfile), IMG, "sleep", "30")
    assert ID64.match(new) and new != old
    assert cidfile.read_text() == new
    assert bb.out("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}") == f"{new} web"
    assert bb.out("inspect", "--format", "{{.HostConfig.ContainerIDFile}}", "web") == str(cidfile)
    bb("stop", "-t", "0", "web")


# ------------------------------------------------------------------ stop / kill / restart / rename / rm


def test_stop_signal_and_stop_timeout(bb):
    script = "trap 'exit 42' INT; while :; do sleep 0.1; done"
    bb(*RUN, "-d", "--name", "int", "--stop-signal", "SIGINT", IMG, "sh", "-c", script)
    assert bb.out("stop", "int") == "int"
    assert bb.out("wait", "int") == "42"
    # a container that ignores its stop signal is killed after --stop-timeout seconds
    bb(*RUN, "-d", "--name", "deaf", "--stop-timeout", "1", IMG, "sh", "-c",
       "trap '' TERM; while :; do sleep 0.1; done")
    assert bb.out("inspect", "--format", "{{.Config.StopTimeout}}", "deaf") == "1"
    t0 = time.monotonic()
    r = bb("stop", "deaf")
    took = time.monotonic() - t0
    assert r.stdout == "deaf\n"
    assert "resorting to SIGKILL" in r.stderr
    assert 0.9 < took < 8
    assert bb.out("inspect", "--format", "{{.State.ExitCode}}", "deaf") == "137"


def test_stop_t_zero_and_stop_all(bb):
    ids = {bb.out(*RUN, "-d", IMG, "sleep", "30") for _ in range(2)}
    bb(*CREATE, "--name", "never", IMG, "true")
    t0 = time.monotonic()
    out = bb.out("stop", "-a", "-t", "0")
    assert time.monotonic() - t0 < 8
    assert set(out.split()) == ids  # only the running ones, by full ID
    assert bb.out("ps", "-q") == ""
    assert {ln.split()[1] for ln in bb.out("ps", "-a", "--format", "{{.Names}} {{.State}}").splitlines()} == \
        {"exited", "created"}
    # stopping a stopped (or never started) container is no error: Podman prints the name
    assert bb.out("stop", "never") == "never"


def test_kill_with_signal_and_kill_all(bb):
    bb(*RUN, "-d", "--name", "k1", IMG, "sh", "-c",
       "trap 'echo got-usr1; exit 5' USR1; echo ready; while :; do sleep 0.1; done")
    _wait_for(lambda: "ready" in bb.out("logs", "k1"), what="ready")
    assert bb.out("kill", "-s", "USR1", "k1") == "k1"
    assert bb.out("wait", "k1") == "5"
    assert "got-usr1" in bb.out("logs", "k1")
    ids = {bb.out(*RUN, "-d", IMG, "sleep", "30") for _ in range(2)}
    assert set(bb.out("kill", "-a").split()) == ids
    for cid in ids:
        assert bb.out("wait", cid) == "137"


def test_restart(bb):
    bb(*RUN, "-d", "--name", "rs", IMG, "sleep", "30")
    pid1 = bb.out("inspect", "--format", "{{.State.Pid}}", "rs")
    assert bb.out("restart", "-t", "0", "rs") == "rs"
    assert _status(bb, "rs") == "running"
    assert bb.out("inspect", "--format", "{{.State.Pid}}", "rs") != pid1
    bb("stop", "-t", "0", "rs")
    assert bb.out("restart", "rs") == "rs"  # a stopped container is simply started
    assert _status(bb, "rs") == "running"
    bb("stop", "-t", "0", "rs")


def test_rename(bb):
    cid = bb.out(*CREATE, "--name", "before", IMG, "true")
    bb("rename", "before", "after")
    assert bb("container", "exists", "after").returncode == 0
    assert bb("container", "exists", "before", check=False).returncode == 1
    assert bb.out("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}") == f"{cid} after"
    bb(*CREATE, "--name", "other", IMG, "true")
    r = bb("rename", "after", "other", check=False)
    assert r.returncode == 125 and "in use" in r.stderr


def test_rm_force_and_all(bb):
    running = bb.out(*RUN, "-d", IMG, "sleep", "30")
    created = bb.out(*CREATE, IMG, "true")
    r = bb("rm", running, check=False)
    assert r.returncode == 2  # Podman: running or paused, no --force
    assert "cannot remove container" in r.stderr and "without force" in r.stderr
    assert _status(bb, running) == "running"
    out = bb.out("rm", "-a", "-f", "-t", "0")
    assert set(out.split()) == {running, created}
    assert bb.out("ps", "-aq") == ""
    assert not mounts_under(bb.root)


def test_rm_force_of_a_running_container_by_name(bb):
    bb(*RUN, "-d", "--name", "rf", IMG, "sleep", "30")
    assert bb.out("rm", "-f", "-t", "0", "rf") == "rf"
    assert bb.out("ps", "-aq") == ""


# ------------------------------------------------------------------ wait, --rm, daemonless


def test_wait_prints_the_exit_code_even_after_rm_removed_it(bb):
    cid = bb.out(*RUN, "-d", "--rm", "--name", "gone", IMG, "sh", "-c", "sleep 0.5; exit 6")
    assert bb.out("wait", cid) == "6"
    _wait_for(lambda: bb("container", "exists", cid, check=False).returncode == 1, what="--rm removal")
    assert bb.out("wait", cid) == "6"
    assert bb.out("wait", "gone") == "6"


def test_containers_outlive_the_cli(bb):
    cid = bb.out(*RUN, "-d", "--name", "bg", IMG, "sleep", "30")
    procs = _store_processes(bb.root)
    assert procs and all(os.path.basename(argv[0]) == "conmon" for _, argv in procs), procs
    out = bb.out("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}")
    assert re.fullmatch(rf"{cid[:12]} bg Up .*", out), out
    bb("stop", "-t", "0", "bg")


def test_exit_is_recorded_with_no_berth_process_running(bb):
    cid = bb.out(*RUN, "-d", IMG, "sh", "-c", "sleep 1; exit 4")
    procs = _store_processes(bb.root)
    assert [os.path.basename(argv[0]) for _, argv in procs] == ["conmon"], procs
    # nothing of berth runs while the container does; conmon alone sees the exit and runs the
    # exit command (berth container cleanup), which unmounts
    _wait_for(lambda: not conmons_for(bb.root), timeout=15, what="conmon to exit")
    _wait_for(lambda: not _store_processes(bb.root), timeout=15, what="the exit command")
    assert not [m for m in mounts_under(bb.root) if cid in m]
    out = bb.out("ps", "-a", "--format", "{{.ID}} {{.Status}}")
    assert re.fullmatch(rf"{cid[:12]} Exited \(4\) .* ago", out), out
    assert bb.out("inspect", "--format", "{{.State.ExitCode}} {{.State.Status}}", cid) == "4 exited"


def test_run_rm_removes_the_container_when_the_cli_is_gone(bb):
    p = bb.popen(*RUN, "--rm", "--name", "orphan", IMG, "sh", "-c", "echo started; sleep 1",
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout.readline() == b"started\n"
    p.kill()
    p.wait()
    p.stdout.close()
    _wait_for(lambda: bb("container", "exists", "orphan", check=False).returncode == 1, timeout=15,
              what="conmon's exit command to remove it")
    assert bb.out("wait", "orphan") == "0"


# ------------------------------------------------------------------ system


def test_port_version_info(bb):
    bb(*RUN, "-d", "--name", "p", IMG, "sleep", "30")
    r = bb("port", "p")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert bb("port", "-a").stdout == ""
    v = bb.out("version")
    assert re.search(r"^Version:\s+\S+", v, re.M) and re.search(r"^OS/Arch:\s+linux/", v, re.M)
    assert bb.out("version", "--format", "{{.Client.Version}}") == re.search(r"^Version:\s+(\S+)", v, re.M)[1]
    assert bb.out("info", "--format", "{{.Host.OCIRuntime.Name}}") == "runc"
    assert bb.out("info", "--format", "{{.Store.GraphDriverName}}") == "overlay"
    assert bb.out("info", "--format", "{{.Store.GraphRoot}}") == bb.root
    assert bb.out("info", "--format", "{{.Store.RunRoot}}") == bb.runroot
    assert bb.out("info", "--format", "{{.Store.ContainerStore.Number}} {{.Store.ContainerStore.Running}} "
                  "{{.Store.ImageStore.Number}}") == "1 1 1"
    bb("stop", "-t", "0", "p")


def test_system_prune(bb, busybox_tar):
    assert bb(*RUN, "--name", "ex", IMG, "true").stdout == ""  # run without -d prints nothing of its own
    ex_id = bb.out("inspect", "--format", "{{.Id}}", "ex")
    running = bb.out(*RUN, "-d", IMG, "sleep", "30")
    dangling = bb.out("import", str(busybox_tar)).removeprefix("sha256:")  # no name: dangling
    out = bb.out("system", "prune", "-f").splitlines()
    assert out[:2] == ["Deleted Containers", ex_id]
    assert out[2:4] == ["Deleted Images", dangling]
    assert re.fullmatch(r"Total reclaimed space: [\d.]+[kMG]?B", out[-1]), out
    assert bb.out("ps", "-aq", "--no-trunc") == running
    assert bb("image", "exists", IMG).returncode == 0  # named and in use: kept
    bb("stop", "-t", "0", running)
    bb("rm", running)
    # nothing left to prune: no section headers, as Podman
    assert bb.out("system", "prune", "-f") == "Total reclaimed space: 0B"


def test_system_reset(bb, busybox_tar):
    bb(*RUN, "-d", "--name", "r1", IMG, "sleep", "30")
    bb(*CREATE, "--name", "r2", IMG, "true")
    bb("tag", IMG, "localhost/another")
    r = bb("system", "reset", "-f")
    assert r.stderr == ""
    assert not mounts_under(bb.root)
    end = time.monotonic() + 5  # conmon exits on its own right after writing the exit file
    while conmons_for(bb.root) and time.monotonic() < end:
        time.sleep(0.05)
    assert not conmons_for(bb.root)
    assert bb.out("ps", "-aq") == ""
    assert bb.out("images", "-q") == ""
    assert bb("image", "exists", IMG, check=False).returncode == 1
    # the store works again afterwards
    bb("import", str(busybox_tar), IMG)
    assert bb.out(*RUN, "--rm", IMG, "echo", "again") == "again"


def test_run_rm_leaves_no_files_of_the_container(bb):
    """A foreground `run --rm` answers first and has its files deleted right after (util/reaper.py):
    shortly after it returns nothing named after the container is left in the store or in runc's
    state, and a command substitution does not wait for that deletion."""
    cid_file = os.path.join(bb.base, "cid")
    out = bb.out("run", "--rm", "--cidfile", cid_file, "--network", "none", "localhost/busybox", "echo", "hi")
    assert out == "hi"
    with open(cid_file) as f:
        cid = f.read().strip()

    def leftovers() -> list[str]:
        found = []
        for top in (bb.root, bb.runroot):
            for dirpath, dirnames, filenames in os.walk(top):
                found += [os.path.join(dirpath, n) for n in dirnames + filenames if cid in n]
        return found

    until(lambda: not leftovers(), timeout=10)
    assert bb.out("ps", "-a", "-q") == ""


def test_a_run_imports_only_what_it_uses(bb):
    # every module a command imports is paid on every start; these are heavy and a plain
    # `run --rm` needs none of them (the flag parser, JSON, SQLite and cleanup avoid them)
    import sys

    from berth.launcher import write

    launcher = bb.base / "berth-launcher"
    write(str(launcher))  # what users run: the launcher script, as scripts/install.sh writes it
    bb("run", "--rm", "--network", "none", IMG, "true")  # the store's first start probes the runtime
    r = subprocess.run([sys.executable, "-S", "-X", "importtime", str(launcher), "--root", bb.root, "--runroot",
                        bb.runroot, "run", "--rm", "--network", "none", "-e", "A=1", IMG, "sh", "-c", "echo $A"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "berth.engine.lifecycle" in imported
    heavy = {"argparse", "re", "enum", "json", "functools", "collections", "shutil", "typing", "dataclasses",
             "subprocess", "threading", "ctypes", "signal", "socket", "datetime"}
    assert not heavy & imported, sorted(heavy & imported)
