"""Migration beyond Podman: move a running container to another berth store or host in one command.

The checkpoint archive is streamed straight into `berth container restore -i -` on the target
(a local process for another store, or through ssh).  The source is removed only after the target
reports the container running; if anything fails on the way, the source is restored in place from
the images it kept, so the container is never lost.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from urllib.parse import urlparse

from berth.engine.checkpoint import CheckpointOptions, RestoreOptions, checkpoint, restore_in_place
from berth.engine.container import Container
from berth.engine.runtime import Runtime
from berth.errors import BerthError, InvalidArgument


def target_argv(dest: str, dest_root: str, dest_runroot: str, remote_berth: str) -> list[str]:
    """The command that runs berth on the target, minus its verb."""
    store = (["--root", dest_root] if dest_root else []) + (["--runroot", dest_runroot] if dest_runroot else [])
    if dest.startswith("ssh://"):
        u = urlparse(dest)
        if not u.hostname:
            raise InvalidArgument(f"invalid migration target {dest!r}: ssh://[user@]host[:port]")
        ssh = ["ssh", "-o", "BatchMode=yes"]
        if u.port:
            ssh += ["-p", str(u.port)]
        host = f"{u.username}@{u.hostname}" if u.username else u.hostname
        return ssh + [host, "--", *shlex.split(remote_berth), *store]
    if dest not in ("", "local"):
        store = ["--root", dest] + (["--runroot", dest_runroot] if dest_runroot else [])
    if not store:
        raise InvalidArgument("migration target needs ssh://host or a store (--dest-root/--dest-runroot)")
    return [sys.executable, "-m", "berth", *store]


def migrate(rt: Runtime, c: Container, dest: str, *, dest_root: str = "", dest_runroot: str = "",
            remote_berth: str = "berth", tcp_established: bool = False, compress: str = "zstd") -> str:
    """Returns the container ID on the target."""
    from berth.engine import lifecycle

    base = target_argv(dest, dest_root, dest_runroot, remote_berth)
    restore = base + ["container", "restore", "-i", "-"] + (["--tcp-established"] if tcp_established else [])
    proc = subprocess.Popen(restore, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    opts = CheckpointOptions(export="-", compress=compress, tcp_established=tcp_established, keep=True)
    try:
        checkpoint(rt, c, opts, out=proc.stdin)
        proc.stdin.close()
        proc.stdin = None  # communicate() must not touch it again
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    out, err = proc.communicate()
    new_id = out.decode().strip().splitlines()[-1] if out.strip() else ""
    running = False
    if proc.returncode == 0 and new_id:
        r = subprocess.run(base + ["inspect", "-f", "{{.State.Status}}", new_id], capture_output=True, text=True)
        running = r.returncode == 0 and r.stdout.strip() == "running"
    if not running:
        # bring the source back where it was
        restore_in_place(rt, rt.reload(c), RestoreOptions(tcp_established=tcp_established))
        why = err.decode(errors="replace").strip().splitlines()[-1:] or ["the target did not report it running"]
        raise BerthError(f"migration of {c.name} failed, the container keeps running here: {why[0]}")
    lifecycle.remove(rt, rt.reload(c), force=True)
    return new_id
