"""pasta (from passt): rootless networking, the only module that runs it.

pasta joins the container's network namespace, gives it a tap interface with the host's
addresses and routes (--config-net), and forwards published ports from the host.  It binds the
host ports itself, so a port another process holds fails here with pasta's message; it exits on
its own when the namespace goes away, and teardown also stops it by its pid file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

from berth.errors import BerthError, InvalidArgument


def available() -> str:
    return shutil.which("pasta") or ""


def _spec(pm: dict) -> str:
    ip = f"{pm['host_ip']}/" if pm["host_ip"] else ""
    n = pm["range"]
    host = f"{pm['host_port']}-{pm['host_port'] + n - 1}" if n > 1 else str(pm["host_port"])
    ctr = f"{pm['container_port']}-{pm['container_port'] + n - 1}" if n > 1 else str(pm["container_port"])
    return f"{ip}{host}:{ctr}"


def start(netns: str, ports: list[dict], pidfile: str) -> None:
    path = available()
    if not path:
        raise BerthError("rootless networking needs pasta: apt install passt")
    for pm in ports:
        if pm["host_port"] == 0:
            from berth.network.ports import free_port

            pm["host_port"] = free_port(pm["protocol"])
    tcp = [_spec(p) for p in ports if p["protocol"] == "tcp"]
    udp = [_spec(p) for p in ports if p["protocol"] == "udp"]
    if any(p["protocol"] not in ("tcp", "udp") for p in ports):
        raise InvalidArgument("rootless port forwarding supports tcp and udp only")
    argv = [path, "--config-net", "--quiet", "--pid", pidfile, "-T", "none", "-U", "none"]
    argv += ["-t", ",".join(tcp) if tcp else "none", "-u", ",".join(udp) if udp else "none", "--netns", netns]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise BerthError(f"pasta failed: {msg[-1] if msg else r.returncode}")


def stop(pidfile: str) -> None:
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
