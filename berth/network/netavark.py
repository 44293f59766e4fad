"""netavark (and through it aardvark-dns): the only module that runs them.

Podman's contract: `netavark --config DIR --rootless BOOL --aardvark-binary PATH setup NETNS`, the
container's networks as JSON on stdin, the resulting interfaces and addresses as JSON on stdout
(errors as {"error": ...}).  IP addresses are chosen by the caller (berth's IPAM) and passed as
static_ips, exactly as Podman does.
"""

from __future__ import annotations

import os

from berth.engine.locks import locked
from berth.errors import BerthError
from berth.util import jsonc
from berth.util.spawn import Piped

TYPE_CHECKING = False  # collections.abc imports collections (~2 ms); annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

NETAVARK = ("/usr/lib/podman/netavark", "/usr/libexec/podman/netavark", "/usr/local/lib/podman/netavark",
            "/usr/local/libexec/podman/netavark")
AARDVARK = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns",
            "/usr/local/lib/podman/aardvark-dns", "/usr/local/libexec/podman/aardvark-dns")


class NetworkError(BerthError):
    pass


def _find(paths: tuple[str, ...], name: str) -> str:
    for p in paths:
        if os.access(p, os.X_OK):
            return p
    raise NetworkError(f"could not find {name}: install it (apt install {name})")


def _host_lock(rootless: bool) -> str:
    if not rootless and os.access("/run/lock", os.W_OK):
        return "/run/lock/berth-netavark.lock"
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), f"berth-netavark-{os.getuid()}.lock")


def _env() -> dict[str, str]:
    """berth's environment, with the directory of the PATH's iptables moved to the front: netavark
    runs `iptables` ~25 times per container start, each an execvp that tries every PATH entry in
    turn (a pyenv or cargo PATH puts half a dozen misses before /usr/sbin: ~7 ms per `run -p` here).
    The binary found is the same one."""
    env = dict(os.environ)
    dirs = env.get("PATH", "").split(":")
    for i, d in enumerate(dirs):
        if d and os.access(os.path.join(d, "iptables"), os.X_OK):
            if i:
                env["PATH"] = ":".join([d] + dirs[:i] + dirs[i + 1:])
            break
    return env


class Pending:
    """A netavark call in flight; it holds the host lock until result() is called."""

    def __init__(self, proc: Piped, lock: locked, after_ok: Callable[[], None] | None = None) -> None:
        self.proc = proc
        self.lock = lock
        self.after_ok = after_ok
        self.out: str | None = None

    def result(self) -> str:
        if self.out is not None:
            return self.out
        try:
            out, err = self.proc.communicate()
            if self.proc.returncode == 0 and self.after_ok is not None:
                self.after_ok()  # still under the host lock: nobody tears the bridge down meanwhile
        finally:
            self.lock.release()
        self.out = out
        if self.proc.returncode != 0:
            msg = out.strip() or err.strip() or f"exited with status {self.proc.returncode}" + (
                f" (could not run {self.proc.argv[0]})" if self.proc.returncode == 127 else "")
            try:
                msg = jsonc.loads(msg.splitlines()[-1]).get("error", msg)
            except (ValueError, IndexError, AttributeError):
                pass
            raise NetworkError(f"netavark: {msg}")
        return out


def parse_status(out: str) -> dict:
    try:
        return jsonc.loads(out) if out.strip() else {}
    except ValueError as e:
        raise NetworkError(f"netavark: unexpected output: {out[:200]}") from e


class Netavark:
    def __init__(self, config_dir: str, rootless: bool = False) -> None:
        self.config_dir = config_dir
        self.rootless = rootless
        self.path = _find(NETAVARK, "netavark")
        self.aardvark = next((p for p in AARDVARK if os.access(p, os.X_OK)), "")

    def _run(self, verb: str, netns: str, payload: dict) -> str:
        return self.begin(verb, netns, payload).result()

    def begin(self, verb: str, netns: str, payload: dict, after_ok: Callable[[], None] | None = None) -> Pending:
        """Start netavark and return at once: a container's network is set up while the runtime
        creates the container (the netns exists before either starts; only the container's
        process needs the network, and it starts after result())."""
        os.makedirs(self.config_dir, exist_ok=True)
        argv = [self.path, "--config", self.config_dir, "--rootless", "true" if self.rootless else "false"]
        if self.aardvark:
            argv += ["--aardvark-binary", self.aardvark]
        argv += [verb, netns]
        # netavark serialises itself per config dir, but the bridge and the NETAVARK-* iptables chains
        # are host-wide: every store's calls take one host lock, or parallel setups break each other
        lock = locked(_host_lock(self.rootless))
        lock.acquire()  # held past this call: released by Pending.result()
        try:
            proc = Piped(argv, jsonc.dumps(payload).encode(), env=_env())
        except BaseException:
            lock.release()
            raise
        return Pending(proc, lock, after_ok)

    def setup(self, netns: str, payload: dict) -> dict:
        return parse_status(self._run("setup", netns, payload))

    def teardown(self, netns: str, payload: dict) -> None:
        self._run("teardown", netns, payload)
