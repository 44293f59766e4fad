"""slirp4netns: rootless networking where pasta is not installed, the only module that runs it.

slirp4netns joins the container's network namespace, creates tap0 there (10.0.2.100/24, gateway
10.0.2.2, DNS forwarder 10.0.2.3) and carries its traffic through ordinary sockets of the host.
It stays in the foreground, so berth starts it in its own session and keeps its pid in a file:
the container's network teardown (run by conmon's exit command too) stops it.

Published ports: Podman runs its rootlessport helper; berth asks slirp4netns itself through its
API socket (add_hostfwd), so slirp4netns listens on the host port and forwards to the
container.  A port another process holds fails with slirp's message and nothing is left running.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import time

from berth.errors import BerthError, InvalidArgument
from berth.util import jsonc

GUEST_IP = "10.0.2.100"
DNS_IP = "10.0.2.3"
READY_TIMEOUT = 10.0


def available() -> str:
    return shutil.which("slirp4netns") or ""


def start(netns: str, ports: list[dict], pidfile: str, api_socket: str, log: str) -> None:
    path = available()
    if not path:
        raise BerthError("rootless networking with slirp4netns needs it installed: sudo apt install slirp4netns")
    if any(p["protocol"] not in ("tcp", "udp") for p in ports):
        raise InvalidArgument("rootless port forwarding supports tcp and udp only")
    for pm in ports:
        if pm["host_port"] == 0:
            from berth.network.ports import free_port

            pm["host_port"] = free_port(pm["protocol"])
    os.makedirs(os.path.dirname(api_socket), exist_ok=True)
    try:
        os.unlink(api_socket)
    except FileNotFoundError:
        pass
    ready_r, ready_w = os.pipe()
    argv = [path, "--configure", "--mtu=65520", "--disable-host-loopback", "--netns-type=path",
            f"--ready-fd={ready_w}", f"--api-socket={api_socket}", netns, "tap0"]
    with open(log, "wb") as logf:
        # its own session: it outlives this CLI, like conmon, until the teardown stops it
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, pass_fds=(ready_w,),
                                start_new_session=True)
    os.close(ready_w)
    try:
        with open(pidfile, "w") as f:
            f.write(str(proc.pid))
        ready = select.select([ready_r], [], [], READY_TIMEOUT)[0] and os.read(ready_r, 1) == b"1"
        if not ready:
            raise BerthError(f"slirp4netns failed: {_last_line(log) or 'it did not configure the network'}")
        for pm in ports:
            for i in range(pm["range"]):
                _add_hostfwd(api_socket, pm["protocol"], pm["host_ip"] or "0.0.0.0", pm["host_port"] + i,
                             pm["container_port"] + i)
    except BaseException:
        stop(pidfile, api_socket)
        proc.wait()
        raise
    finally:
        os.close(ready_r)


def _add_hostfwd(api_socket: str, proto: str, host_ip: str, host_port: int, guest_port: int) -> None:
    req = {"execute": "add_hostfwd", "arguments": {"proto": proto, "host_addr": host_ip, "host_port": host_port,
                                                   "guest_addr": GUEST_IP, "guest_port": guest_port}}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(READY_TIMEOUT)
        s.connect(api_socket)
        s.sendall(jsonc.dumps(req).encode())
        s.shutdown(socket.SHUT_WR)  # the API answers once the request is complete
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    try:
        reply = jsonc.loads(data or b"{}")
    except ValueError:
        reply = {"error": {"desc": data.decode(errors="replace")}}
    if "error" in reply or "return" not in reply:
        desc = (reply.get("error") or {}).get("desc", "no reply")
        raise BerthError(f"cannot expose port {host_ip}:{host_port}/{proto} with slirp4netns: {desc} "
                         "(is the port already in use?)")


def _last_line(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def stop(pidfile: str, api_socket: str) -> None:
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
            # wait briefly so its host ports are free when stop returns (a restart binds them again)
            end = time.monotonic() + 2
            while time.monotonic() < end and _alive(pid):
                time.sleep(0.01)
        except ProcessLookupError:
            pass
    for path in (pidfile, api_socket):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
