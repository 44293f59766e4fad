"""Rootless berth: ordinary users with subordinate ID ranges, no root and no daemon.

The suite creates its test users (with /etc/subuid and /etc/subgid entries) and makes /dev/net/tun
and /dev/fuse usable by them, as usual distributions ship them.  Every command runs as that user
through runuser, with its own HOME and XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BUSYBOX_TAR, PY, REPO, free_port

USERS = {"berthrl1": "300000", "berthrl2": "400000"}
NO_SUBID_USER = "berthrl3"


def _ensure_user(name: str, subid_start: str | None) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True)
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path) as f:
            old = f.readlines()
        lines = [ln for ln in old if not ln.startswith(f"{name}:")]
        if subid_start:
            lines.append(f"{name}:{subid_start}:65536\n")
        if sorted(lines) == sorted(old):
            continue
        # every xdist worker runs this fixture: a rewrite in place would show another worker's
        # berth an empty file for a moment ("no subuid ranges found")
        tmp = f"{path}.berth-test-{os.getpid()}"
        with open(tmp, "w") as f:
            f.writelines(lines)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


@pytest.fixture(scope="session")
def rootless_host():
    if os.geteuid() != 0:
        pytest.skip("the rootless suite sets up its users as root")
    for name, start in USERS.items():
        _ensure_user(name, start)
    _ensure_user(NO_SUBID_USER, None)
    for dev in ("/dev/net/tun", "/dev/fuse"):
        if os.path.exists(dev):
            os.chmod(dev, 0o666)
    # the users must reach the interpreter, the package and the image
    p = REPO
    while p != p.parent:
        os.chmod(p, os.stat(p).st_mode | 0o005)
        p = p.parent
    return True


class UserBerth:
    def __init__(self, user: str, base: Path, own_store: bool = True) -> None:
        self.user = user
        pw = pwd.getpwnam(user)
        self.uid = pw.pw_uid
        self.home = pw.pw_dir
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        self.xdg = base / "xdg"
        self.xdg.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.xdg, pw.pw_uid, pw.pw_gid)
        self.store = ["--root", str(base / "root"), "--runroot", str(base / "run")] if own_store else []
        self.runroot = str(base / "run") if own_store else str(self.xdg / "berth")
        self.path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict:
        return {"PATH": self.path, "HOME": self.home,
                "USER": self.user, "XDG_RUNTIME_DIR": str(self.xdg), "LANG": "C.UTF-8", **self.extra_env}

    def argv(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", "env", *(f"{k}={v}" for k, v in self.env().items()),
                PY, "-m", "berth", *self.store, *args]

    def __call__(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 90):
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, input=input,
                           stdin=subprocess.DEVNULL if input is None else None, cwd="/")
        if check and r.returncode != 0:
            raise AssertionError(f"{self.user}: berth {' '.join(args)} exited {r.returncode}\n{r.stderr}")
        return r

    def out(self, *args: str, **kw) -> str:
        return self(*args, **kw).stdout.strip()

    def cleanup(self) -> None:
        """Remove everything; fail if a process of this store's user namespace outlives its pause."""
        self("rm", "-af", "-t", "0", check=False)
        ns = ""
        try:
            pid = int((Path(self.runroot) / "pause.pid").read_text())
            ns = os.readlink(f"/proc/{pid}/ns/user")
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        end = time.monotonic() + 10
        while ns and _procs_in(ns) and time.monotonic() < end:
            time.sleep(0.1)
        leftover = {p: _cmdline(p) for p in _procs_in(ns)} if ns else {}
        for pid in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)
        assert not leftover, f"processes of {self.user}'s namespace left behind: {leftover}"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _procs_in(ns: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/ns/user") == ns:
                    with open(f"/proc/{d}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                            out.append(int(d))
            except OSError:
                pass
    return out


@pytest.fixture
def user(rootless_host, tmp_path_factory):
    import uuid

    b = UserBerth("berthrl1", Path(f"/tmp/berth-rl-{uuid.uuid4().hex[:8]}"))
    shutil.copy(BUSYBOX_TAR, b.base / "busybox.tar")
    os.chmod(b.base / "busybox.tar", 0o644)
    b("import", str(b.base / "busybox.tar"), "localhost/busybox")
    yield b
    b.cleanup()


def test_lifecycle_as_an_ordinary_user(user):
    assert user.out("run", "--rm", "localhost/busybox", "echo", "hello") == "hello"
    user("run", "-d", "--name", "svc", "localhost/busybox", "sh", "-c", "echo started; sleep 300")
    assert user.out("ps", "--format", "{{.Names}} {{.State}}") == "svc running"  # a new CLI sees it
    assert user.out("exec", "svc", "id", "-u") == "0"
    assert user.out("logs", "svc") == "started"
    user("stop", "-t", "0", "svc")
    assert user.out("ps", "-a", "--format", "{{.Status}}").startswith("Exited (137)")
    user("rm", "svc")
    assert user.out("ps", "-aq") == ""
    info = user.out("info", "--format", "{{.Host.Rootless}} {{range .Host.IDMappings.UIDMap}}"
                    "{{.ContainerID}}:{{.HostID}}:{{.Size}} {{end}}{{.Host.RootlessNetworkCmd}}")
    assert info == f"true 0:{user.uid}:1 1:{USERS['berthrl1']}:65536 pasta"
    # the container's processes belong to the user on the host, and to subordinate IDs
    user("run", "-d", "--name", "own", "localhost/busybox", "sleep", "300")
    pid = int(user.out("inspect", "-f", "{{.State.Pid}}", "own"))
    assert os.stat(f"/proc/{pid}").st_uid == user.uid


def test_resource_limits_warn_instead_of_failing(user):
    r = user("run", "--rm", "--memory", "64m", "--pids-limit", "50", "localhost/busybox", "echo", "ran")
    assert r.stdout.strip() == "ran"
    assert "Resource limits are not supported and ignored" in r.stderr


def _fetch(port: int) -> str:
    end = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.read().decode().strip()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def test_published_port_and_network_modes(user):
    port = free_port()
    user("run", "-d", "--name", "web", "-p", f"{port}:8080", "localhost/busybox", "httpd", "-f", "-p", "8080",
         "-h", "/www")
    assert _fetch(port) == "hello from berth"
    out = user.out("run", "--rm", "--network", "none", "localhost/busybox", "cat", "/proc/net/dev")
    assert [ln.split(":")[0].strip() for ln in out.splitlines()[2:]] == ["lo"]
    before = set(os.listdir("/sys/class/net"))
    out = user.out("run", "--rm", "--network", "host", "localhost/busybox", "ls", "/sys/class/net")
    after = set(os.listdir("/sys/class/net"))
    # the host's interfaces, give or take the veths that parallel tests add and remove meanwhile
    assert before & after <= set(out.split()) <= before | after


def _layer_with_owners() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, uid in (("data/root", 0), ("data/www", 33), ("data/user", 1000)):
            info = tarfile.TarInfo(name)
            info.size = 2
            info.uid = info.gid = uid
            t.addfile(info, io.BytesIO(b"x\n"))
    return buf.getvalue()


def test_multi_uid_layer_keeps_its_owners(user):
    path = user.base / "owners.tar"
    with tarfile.open(BUSYBOX_TAR) as src, tarfile.open(path, "w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        extra = tarfile.open(fileobj=io.BytesIO(_layer_with_owners()))
        for m in extra.getmembers():
            dst.addfile(m, extra.extractfile(m))
    os.chmod(path, 0o644)
    user("import", str(path), "localhost/owners")
    out = user.out("run", "--rm", "localhost/owners", "sh", "-c",
                   "stat -c '%n %u %g' /data/root /data/www /data/user")
    assert out.splitlines() == ["/data/root 0 0", "/data/www 33 33", "/data/user 1000 1000"]


def test_userns_keep_id_auto_and_maps(user):
    assert user.out("run", "--rm", "--userns", "keep-id", "localhost/busybox", "id", "-u") == str(user.uid)
    user("run", "-d", "--name", "k", "--userns", "keep-id", "localhost/busybox", "sh", "-c",
         "touch /tmp/mine; sleep 300")
    time.sleep(0.5)
    pid = int(user.out("inspect", "-f", "{{.State.Pid}}", "k"))
    # a file the container's user writes is the user's own file on the host
    assert os.stat(f"/proc/{pid}/root/tmp/mine").st_uid == user.uid
    maps = user.out("run", "--rm", "--userns", "auto", "localhost/busybox", "cat", "/proc/self/uid_map").split()
    assert maps[0] == "0" and maps[2] == "1024"
    assert user.out("run", "--rm", "--userns", "auto", "localhost/busybox", "sh", "-c",
                    "touch /root/x && echo wrote") == "wrote"
    maps = user.out("run", "--rm", "--uidmap", "0:5000:2000", "localhost/busybox", "cat", "/proc/self/uid_map")
    assert maps.split() == ["0", "5000", "2000"]


def test_volumes_as_an_ordinary_user(user):
    data = user.base / "data"
    data.mkdir()
    os.chown(data, user.uid, pwd.getpwnam(user.user).pw_gid)
    # keep-id: what the container's user writes in a bind mount is the user's own file on the host
    user("run", "--rm", "--userns", "keep-id", "-v", f"{data}:/data", "localhost/busybox", "sh", "-c",
         "echo hi > /data/from-keep-id")
    st = os.stat(data / "from-keep-id")
    assert (st.st_uid, (data / "from-keep-id").read_text()) == (user.uid, "hi\n")
    # a named volume keeps its data across containers
    user("volume", "create", "vol")
    user("run", "--rm", "-v", "vol:/v", "localhost/busybox", "sh", "-c", "echo kept > /v/f")
    assert user.out("run", "--rm", "-v", "vol:/v:ro", "localhost/busybox", "cat", "/v/f") == "kept"
    assert user.out("volume", "inspect", "-f", "{{.Mountpoint}}", "vol").startswith(str(user.base / "root"))


def test_unshare_runs_inside_the_users_namespace(user):
    out = user.out("unshare", "cat", "/proc/self/uid_map").split()
    assert out[:3] == ["0", str(user.uid), "1"]
    assert user.out("unshare", "id", "-u") == "0"


def test_two_users_and_root_never_see_each_other(rootless_host, busybox_tar):
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="berth-rl2-"))
    a = UserBerth("berthrl1", tmp_path / "a", own_store=False)
    b = UserBerth("berthrl2", tmp_path / "b", own_store=False)
    for u in (a, b):
        u.base.chmod(0o755)
    os.chmod(tmp_path, 0o755)
    shutil.copy(busybox_tar, tmp_path / "bb.tar")
    os.chmod(tmp_path / "bb.tar", 0o644)
    try:
        for u in (a, b):
            u("import", str(tmp_path / "bb.tar"), "localhost/busybox")
        a("run", "-d", "--name", "only-a", "localhost/busybox", "sleep", "300")
        assert a.out("ps", "--format", "{{.Names}}") == "only-a"
        assert b.out("ps", "-a", "--format", "{{.Names}}") == ""
        assert a.out("info", "--format", "{{.Store.GraphRoot}}") == f"{a.home}/.local/share/berth"
        assert b.out("info", "--format", "{{.Store.GraphRoot}}") == f"{b.home}/.local/share/berth"
        root = subprocess.run([PY, "-m", "berth", "--root", str(tmp_path / "rootstore"), "--runroot",
                               str(tmp_path / "rootrun"), "ps", "-a", "--format", "{{.Names}}"],
                              capture_output=True, text=True, check=True)
        assert root.stdout.strip() == ""
    finally:
        for u in (a, b):
            u.cleanup()
            # their default stores live in their homes: leave nothing there
            shutil.rmtree(f"{u.home}/.local/share/berth", ignore_errors=True)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_clear_errors_when_the_host_is_not_set_up(rootless_host, tmp_path):
    u = UserBerth(NO_SUBID_USER, Path(f"/tmp/berth-rl3-{os.getpid()}"))
    try:
        r = u("ps", check=False)
        assert r.returncode == 125
        assert r.stderr.startswith(f'Error: cannot set up the user namespace: no subuid ranges found for user '
                                   f'"{NO_SUBID_USER}" in /etc/subuid')
        assert "usermod --add-subuids" in r.stderr
    finally:
        u.cleanup()


def _bin_without(base: Path, *missing: str) -> str:
    """A PATH on which `missing` are not installed: /usr/bin as links, less those programs."""
    farm = base / "usr-bin"
    farm.mkdir()
    for name in os.listdir("/usr/bin"):
        if name not in missing:
            os.symlink(f"/usr/bin/{name}", farm / name)
    farm.chmod(0o755)
    return f"/usr/local/sbin:/usr/local/bin:/usr/sbin:{farm}"


def _refused(u: UserBerth, r: subprocess.CompletedProcess, message: str) -> None:
    """A host that cannot run berth rootless: exit 125, exactly this one line, no pause process left."""
    assert r.returncode == 125, r.stderr
    assert r.stderr == message
    assert not (u.base / "run" / "pause.pid").exists()


def test_clear_error_without_newuidmap(rootless_host):
    u = UserBerth("berthrl1", Path(f"/tmp/berth-rl-nouidmap-{os.getpid()}"))
    u.base.chmod(0o755)
    try:
        u.path = _bin_without(u.base, "newuidmap", "newgidmap")
        _refused(u, u("ps", check=False),
                 'Error: command required for rootless mode with multiple IDs: exec: "newuidmap": '
                 "executable file not found in $PATH; install it with: sudo apt install uidmap "
                 "(Fedora: sudo dnf install shadow-utils)\n")
    finally:
        u.cleanup()


# Runs berth as an ordinary user inside a user namespace that maps every ID to itself (so berth sees
# the host's IDs and takes its rootless path) and whose user.max_user_namespaces is 0: the kernel
# refuses berth's unshare(CLONE_NEWUSER) exactly as on a host with the sysctl at 0, and the host's
# own limit, which the other tests depend on, is never touched.
_NO_USERNS = """
import ctypes, json, os, sys
uid, gid, env, argv = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4:]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    if libc.unshare(0x10000000) != 0:
        os._exit(99)
    os.write(ready_w, b"1")
    os.read(go_r, 1)
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.execve(argv[0], argv, env)
os.read(ready_r, 1)
for name in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{name}", "w") as f:
        f.write("0 0 4294967295\\n")
os.write(go_w, b"1")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_clear_error_when_the_kernel_refuses_user_namespaces(rootless_host):
    u = UserBerth("berthrl1", Path(f"/tmp/berth-rl-nouserns-{os.getpid()}"))
    try:
        pw = pwd.getpwnam(u.user)
        r = subprocess.run([PY, "-c", _NO_USERNS, str(pw.pw_uid), str(pw.pw_gid), json.dumps(u.env()), PY, "-m",
                            "berth", *u.store, "ps"], capture_output=True, text=True, timeout=60, cwd="/")
        _refused(u, r, "Error: cannot create a user namespace: No space left on device: the kernel allows "
                       "no more user namespaces; raise the limit with: "
                       "sudo sysctl -w user.max_user_namespaces=28633\n")
    finally:
        u.cleanup()


def _tar(members: list[tuple[str, bytes | None]], base: str | None = None) -> bytes:
    """A layer tar: the busybox rootfs (if base) then members (None: a directory)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        if base:
            with tarfile.open(base) as src:
                for m in src.getmembers():
                    t.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _whiteout_archive(path: Path, busybox: Path) -> None:
    """docker-archive of two layers: files on busybox, then a layer deleting some of them
    (a file, a directory, and everything an opaque directory had below it)."""
    import hashlib

    layers = [
        _tar([("data", None), ("data/keep", b"k\n"), ("data/gone", b"g\n"), ("data/gonedir", None),
              ("data/gonedir/f", b"f\n"), ("opq", None), ("opq/old", b"o\n")], base=str(busybox)),
        _tar([("data/.wh.gone", b""), ("data/.wh.gonedir", b""), ("opq", None), ("opq/.wh..wh..opq", b""),
              ("opq/new", b"n\n")]),
    ]
    diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": ["localhost/whiteouts:latest"],
                 "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]
    with tarfile.open(path, "w") as t:
        for name, data in [(config_name, config), ("manifest.json", json.dumps(manifest).encode()),
                           *((f"{d[7:]}/layer.tar", layer) for d, layer in zip(diff_ids, layers, strict=True))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    os.chmod(path, 0o644)


STORAGE_MODES = {
    "overlay": [],
    "fuse-overlayfs": ["--storage-opt", "overlay.mount_program=/usr/bin/fuse-overlayfs"],
    "vfs": ["--storage-driver", "vfs"],
}


@pytest.mark.parametrize("mode", list(STORAGE_MODES))
def test_whiteouts_in_each_storage_mode(rootless_host, busybox_tar, mode):
    import uuid

    u = UserBerth("berthrl1", Path(f"/tmp/berth-rl-wh-{uuid.uuid4().hex[:8]}"))
    try:
        _whiteout_archive(u.base / "wh.tar", busybox_tar)
        # the mode is chosen by the first command and recorded: later ones do not repeat the flag
        u(*STORAGE_MODES[mode], "load", "-i", str(u.base / "wh.tar"))
        info = json.loads(u.out("info", "--format", "json"))["store"]
        assert info["graphDriverName"] == ("vfs" if mode == "vfs" else "overlay")
        program = info["graphOptions"].get("overlay.mount_program", {}).get("Executable")
        assert program == ("/usr/bin/fuse-overlayfs" if mode == "fuse-overlayfs" else None)

        listing = "/data:\nkeep\n\n/opq:\nnew"  # gone, gonedir and opq/old deleted by the upper layer
        assert u.out("run", "--rm", "localhost/whiteouts", "ls", "-A", "/data", "/opq") == listing
        u("run", "-d", "--name", "c", "localhost/whiteouts", "sleep", "300")
        if mode != "vfs":
            pause = int((Path(u.runroot) / "pause.pid").read_text())
            merged = u.out("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", "c")
            fstypes = [ln.split(" - ")[1].split()[0] for ln in open(f"/proc/{pause}/mountinfo")
                       if ln.split()[4] == merged]
            assert fstypes == (["fuse.fuse-overlayfs"] if mode == "fuse-overlayfs" else ["overlay"])
        # deleting lower-layer files inside the running container, and a whole directory
        u("exec", "c", "rm", "-r", "/data/keep", "/opq/new", "/bin/vi")
        assert u.out("exec", "c", "ls", "-A", "/data", "/opq") == "/data:\n\n/opq:"
        assert u("exec", "c", "ls", "/bin/vi", check=False).returncode != 0
        # the deletions are the container's own: they survive a restart, the image keeps its files
        u("stop", "-t", "0", "c")
        u("start", "c")
        assert u.out("exec", "c", "ls", "-A", "/data", "/opq") == "/data:\n\n/opq:"
        assert u.out("run", "--rm", "localhost/whiteouts", "ls", "-A", "/data", "/opq") == listing
        u("rm", "-f", "-t", "0", "c")
    finally:
        u.cleanup()


def test_storage_opt_errors_and_switching_back(user):
    r = user("--storage-opt", "overlay.mount_program=/nonexistent/fuse-overlayfs", "images", check=False)
    assert (r.returncode, r.stderr) == (125, 'Error: overlay.mount_program "/nonexistent/fuse-overlayfs": no such '
                                             "executable file (install it with: sudo apt install fuse-overlayfs)\n")
    r = user("--storage-opt", "overlay.size=10G", "images", check=False)
    assert (r.returncode, r.stderr) == (125, 'Error: unknown storage option "overlay.size=10G" (supported: '
                                             "overlay.mount_program=PATH)\n")
    graph = "{{.Store.GraphDriverName}} {{range $k, $v := .Store.GraphOptions}}{{$k}}={{$v.Executable}}{{end}}"
    assert user.out("info", "--format", graph) == "overlay"
    # the mount program can change between commands, as with Podman; the last one given is kept
    user("--storage-opt", "overlay.mount_program=fuse-overlayfs", "images")
    assert user.out("info", "--format", graph) == "overlay overlay.mount_program=/usr/bin/fuse-overlayfs"
    assert user.out("run", "--rm", "localhost/busybox", "echo", "on fuse") == "on fuse"
    user("--storage-opt", "overlay.mount_program=", "images")
    assert user.out("info", "--format", graph) == "overlay"


def test_slirp4netns_forced_publishes_ports(user):
    port = free_port()
    user("run", "-d", "--name", "web", "--network", "slirp4netns", "-p", f"{port}:8080", "localhost/busybox",
         "httpd", "-f", "-p", "8080", "-h", "/www")
    assert _fetch(port) == "hello from berth"
    assert user.out("inspect", "-f", "{{.HostConfig.NetworkMode}}", "web") == "slirp4netns"
    out = user.out("exec", "web", "sh", "-c", "ip -4 -o addr show tap0; grep nameserver /etc/resolv.conf")
    assert "10.0.2.100/24" in out.splitlines()[0]
    assert out.splitlines()[1] == "nameserver 10.0.2.3"
    # a port slirp4netns cannot bind: one line naming it, and no container left running
    r = user("run", "-d", "--name", "clash", "--network", "slirp4netns", "-p", f"{port}:80", "localhost/busybox",
             "sleep", "300", check=False)
    assert r.returncode == 125
    assert r.stderr.startswith(f"Error: cannot expose port 0.0.0.0:{port}/tcp with slirp4netns: ")
    assert user.out("ps", "--format", "{{.Names}}") == "web"
    # stopping releases the port: a restart binds it again
    user("restart", "-t", "0", "web")
    assert _fetch(port) == "hello from berth"
    assert user.out("run", "--rm", "--network", "pasta", "localhost/busybox", "echo", "pasta") == "pasta"


def test_slirp4netns_when_pasta_is_missing(user):
    user.base.chmod(0o755)
    user.path = _bin_without(user.base, "pasta")
    assert user.out("info", "--format", "{{.Host.RootlessNetworkCmd}}") == "slirp4netns"
    port = free_port()
    user("run", "-d", "--name", "web", "-p", f"{port}:8080", "localhost/busybox", "httpd", "-f", "-p", "8080",
         "-h", "/www")
    assert _fetch(port) == "hello from berth"
    assert user.out("inspect", "-f", "{{.HostConfig.NetworkMode}}", "web") == "slirp4netns"
    r = user("run", "--rm", "--network", "pasta", "localhost/busybox", "true", check=False)
    assert (r.returncode, r.stderr) == (125, 'Error: could not find "pasta" in $PATH: install it with: sudo apt '
                                             "install passt (or install slirp4netns and use --network slirp4netns)\n")
    assert user.out("ps", "-a", "--format", "{{.Names}}") == "web"


def test_containers_conf_chooses_the_rootless_network_cmd(user):
    conf = user.base / "containers.conf"
    conf.write_text('[network]\ndefault_rootless_network_cmd = "slirp4netns"\n')
    conf.chmod(0o644)
    user.extra_env["CONTAINERS_CONF"] = str(conf)
    assert user.out("info", "--format", "{{.Host.RootlessNetworkCmd}}") == "slirp4netns"
    assert user.out("run", "--rm", "localhost/busybox", "ip", "-o", "link", "show", "tap0").startswith("2: tap0")


def test_fuse_overlayfs_chosen_where_kernel_overlay_cannot_mount(rootless_host, busybox_tar):
    """A store on a FUSE filesystem: the kernel's overlay refuses it as upper directory ("upper fs
    missing required features"), so the probe falls back to fuse-overlayfs by itself.  The FUSE
    filesystem here is itself a fuse-overlayfs mount, which cannot host the merged directories
    of another one (mkdir fails with EPERM), so this checks the choice and the layer store; the
    whiteout test above runs containers on fuse-overlayfs."""
    import uuid

    u = UserBerth("berthrl1", Path(f"/tmp/berth-rl-fuse-{uuid.uuid4().hex[:8]}"))
    fs = u.base / "fs"
    try:
        for d in ("lower", "upper", "work", "fs"):
            (u.base / d).mkdir()
            os.chown(u.base / d, u.uid, u.uid)
        shutil.copy(busybox_tar, u.base / "bb.tar")
        os.chmod(u.base / "bb.tar", 0o644)
        # mounted inside the user's namespace, where berth's own mounts live
        u("unshare", "fuse-overlayfs", "-o", f"lowerdir={u.base}/lower,upperdir={u.base}/upper,"
          f"workdir={u.base}/work", str(fs))
        u.store = ["--root", str(fs / "root"), "--runroot", str(u.base / "run")]
        u("import", str(u.base / "bb.tar"), "localhost/busybox")
        graph = "{{.Store.GraphDriverName}} {{range $k, $v := .Store.GraphOptions}}{{$k}}={{$v.Executable}}{{end}}"
        assert u.out("info", "--format", graph) == "overlay overlay.mount_program=/usr/bin/fuse-overlayfs"
        assert u.out("images", "--format", "{{.Repository}}") == "localhost/busybox"
    finally:
        u("unshare", "umount", str(fs), check=False)
        u.cleanup()
