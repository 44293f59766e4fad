"""exec: run another process in a running container.

Attached execs call `runtime exec` directly with our stdio: runc then handles the terminal,
signal forwarding and the exit status itself, and there is no extra conmon to start.
"""

from __future__ import annotations

import os
import signal
import subprocess

from berth.engine.container import Container
from berth.engine.envvars import merge_env
from berth.engine.options import ExecOptions
from berth.engine.runtime import Runtime
from berth.errors import FailedPrecondition
from berth.oci.runtime import _last_error, classify_start_error, runtime_env
from berth.util import jsonc


def build_process(rt: Runtime, c: Container, opts: ExecOptions) -> dict:
    from berth.oci.spec import resolve_user

    with open(os.path.join(rt.bundle(c.id), "config.json")) as f:
        spec = jsonc.load(f)
    proc = spec["process"]
    proc["args"] = list(opts.command)
    proc["terminal"] = bool(opts.tty)
    proc["env"] = merge_env(proc.get("env", []), opts.env)
    if opts.tty and not any(e.startswith("TERM=") for e in proc["env"]):
        proc["env"].append("TERM=xterm")
    if opts.workdir:
        proc["cwd"] = opts.workdir
    if opts.user:
        u = resolve_user(f"/proc/{c.state['pid']}/root", opts.user)
        proc["user"] = {"uid": u.uid, "gid": u.gid, "umask": 0o022}
        if u.additional_gids:
            proc["user"]["additionalGids"] = u.additional_gids
    if opts.privileged:
        from berth.oci.spec import host_bounding_caps

        caps = ["CAP_" + x for x in host_bounding_caps()]
        proc["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    _check_command(c.state["pid"], proc)
    return proc


def exec_capture(rt: Runtime, c: Container, argv: list[str], timeout: float) -> tuple[int, str]:
    """Run argv in the container, stdout and stderr together; (exit code, output)."""
    from berth.errors import BerthError

    try:
        proc = build_process(rt, c, ExecOptions(command=argv))
    except BerthError as e:
        return e.exit_code, e.message
    pfile = os.path.join(rt.rundir(c.id), f"exec-{os.urandom(6).hex()}.json")
    with open(pfile, "w") as f:
        f.write(jsonc.dumps(proc))
    try:
        r = subprocess.run(rt.oci.exec_argv(c.id, pfile, tty=False, detach=False), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           env=runtime_env())
        return r.returncode, r.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return 1, f"command timed out after {timeout:g}s"
    finally:
        os.unlink(pfile)


def exec_in(rt: Runtime, c: Container, opts: ExecOptions) -> int:
    c = rt.reload(c)
    if not c.status.can_exec():
        raise FailedPrecondition("can only create exec sessions on running containers: container state improper")
    # runc's foreground terminal handling needs a terminal of ours; from a script or CI there is none,
    # so berth lends runc a pty of its own and copies it to our stdio (what Podman's conmon does)
    lend_pty = opts.tty and not opts.detach and not os.isatty(0)
    proc = build_process(rt, c, opts)
    rd = rt.rundir(c.id)
    os.makedirs(rd, exist_ok=True)
    token = os.urandom(6).hex()
    pfile = os.path.join(rd, f"exec-{token}.json")
    logfile = os.path.join(rd, f"exec-{token}.log")
    with open(pfile, "w") as f:
        f.write(jsonc.dumps(proc))
    argv = rt.oci.exec_argv(c.id, pfile, tty=opts.tty, detach=opts.detach)
    argv[1:1] = ["--log-format", "json", "--log", logfile]
    try:
        if opts.detach:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=runtime_env())
            code = r.returncode
        else:
            old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                                                                   signal.SIGQUIT)}
            try:
                if lend_pty:
                    code = _run_on_pty(argv, opts.interactive)
                else:
                    p = subprocess.Popen(argv, stdin=None if opts.interactive or opts.tty else subprocess.DEVNULL,
                                         env=runtime_env())
                    code = p.wait()
            finally:
                for s, h in old.items():
                    signal.signal(s, h)
        if code == 255 or (opts.detach and code != 0):
            err = _exec_error(logfile)
            if err:
                raise classify_start_error(f"{rt.oci.name}: {err}")
        return code
    finally:
        for p in (pfile, logfile):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def _run_on_pty(argv: list[str], interactive: bool) -> int:
    """Run argv with a new pty as its controlling terminal; copy the pty to our stdout (and our
    stdin to it with -i) until the process ends."""
    import fcntl
    import select
    import termios

    master, slave = os.openpty()

    def as_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=runtime_env(),
                         preexec_fn=as_terminal, close_fds=True)
    os.close(slave)
    watch = [master] + ([0] if interactive else [])
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    try:
        while True:
            ready, _, _ = select.select(watch, [], [], 0.2)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every process holding the pty has gone
                    data = b""
                if not data:
                    break
                out.write(data)
            if 0 in ready:
                chunk = os.read(0, 65536)
                if chunk:
                    os.write(master, chunk)
                else:
                    watch.remove(0)
                    os.write(master, b"\x04")  # EOF, as a terminal says it
            if not ready and p.poll() is not None:
                break
        return p.wait()
    finally:
        out.close()
        os.close(master)


def _check_command(pid: int, proc: dict) -> None:
    """Find the command in the container before asking runc: runc prints its own error on the
    stderr the process shares with us, so a clean Podman-style message needs the check first."""
    from berth.errors import CommandNotExecutable, CommandNotFound

    root = f"/proc/{pid}/root"
    cmd = proc["args"][0]
    if "/" in cmd:
        candidates = [cmd if cmd.startswith("/") else os.path.join(proc.get("cwd") or "/", cmd)]
    else:
        path = next((e[5:] for e in proc.get("env", []) if e.startswith("PATH=")),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        candidates = [os.path.join(d or ".", cmd) for d in path.split(":")]
    for cand in candidates:
        full = _resolve_in(root, cand)
        if full and os.path.isfile(full):
            if not os.access(full, os.X_OK):
                raise CommandNotExecutable(f"{cand}: permission denied: OCI permission denied")
            return
        if full and os.path.isdir(full) and "/" in cmd:
            raise CommandNotExecutable(f"{cand}: is a directory: OCI permission denied")
    raise CommandNotFound(f"{cmd}: executable file not found in $PATH: no such file or directory: "
                          "OCI runtime attempted to invoke a command that was not found")


def _resolve_in(root: str, path: str, depth: int = 0) -> str | None:
    """Resolve path inside the container root, following symlinks relative to that root."""
    if depth > 40:
        return None
    parts = [p for p in path.split("/") if p and p != "."]
    cur = ""
    for i, part in enumerate(parts):
        if part == "..":
            cur = cur.rsplit("/", 1)[0] if "/" in cur else ""
            continue
        nxt = f"{cur}/{part}"
        full = root + nxt
        if os.path.islink(full):
            target = os.readlink(full)
            rest = "/".join(parts[i + 1:])
            base = target if target.startswith("/") else f"{cur}/{target}"
            return _resolve_in(root, f"{base}/{rest}" if rest else base, depth + 1)
        cur = nxt
    return root + (cur or "/")


def _exec_error(logfile: str) -> str:
    try:
        with open(logfile) as f:
            text = f.read()
    except OSError:
        return ""
    for line in reversed(text.splitlines()):
        try:
            d = jsonc.loads(line)
        except ValueError:
            continue
        if d.get("level") in ("error", "fatal"):
            return d.get("msg", "")
    return _last_error(text) if text.strip() else ""
