"""Keeping a network's bridge up between containers: the only module that runs `ip`.

netavark tears a bridge down, with its NAT chain and forwarding rules, when the last container
leaves it, and builds it again for the next one: on this kind of host that is ~150 ms of every
`run --rm` on a bridge network (deleting a bridge waits for RCU grace periods; the rules are a
dozen iptables calls).  Docker keeps docker0 up for the same reason.  berth holds a bridge with a
veth pair of its own (no traffic, no address, never up), so netavark sees one more port and only
removes what belongs to the container: its veth, its rules, its netns, its address.

The bridge and the network-level rules go when the network does: `network rm`, `network prune`
and `system reset` release the pair and let netavark's own teardown remove them (retire()).
"""

from __future__ import annotations

import os

SYS_NET = "/sys/class/net"


def names(bridge: str) -> tuple[str, str]:
    """The pair's two ends for this bridge: short (IFNAMSIZ) and recognisably berth's."""
    try:
        from _sha1 import sha1  # the C module alone: hashlib's OpenSSL start is ~3 ms per command
    except ImportError:
        from hashlib import sha1
    h = sha1(bridge.encode()).hexdigest()[:8]
    return f"bk{h}", f"bk{h}p"


def held(bridge: str) -> bool:
    return os.path.exists(os.path.join(SYS_NET, names(bridge)[0]))


def hold(bridge: str) -> None:
    """Attach the pair to the bridge if it is not there yet.  Best effort: without it netavark
    simply does its full teardown, as for Podman."""
    a, b = names(bridge)
    if not os.path.isdir(os.path.join(SYS_NET, bridge)) or os.path.exists(os.path.join(SYS_NET, a)):
        return
    import subprocess

    subprocess.run(["ip", "link", "add", a, "master", bridge, "type", "veth", "peer", "name", b],
                   stdin=subprocess.DEVNULL, capture_output=True)


def release(bridge: str) -> None:
    a, _ = names(bridge)
    if os.path.exists(os.path.join(SYS_NET, a)):
        import subprocess

        subprocess.run(["ip", "link", "del", a], stdin=subprocess.DEVNULL, capture_output=True)


def ports(bridge: str) -> list[str]:
    """The interfaces attached to the bridge (none if there is no such bridge)."""
    try:
        return os.listdir(os.path.join(SYS_NET, bridge, "brif"))
    except OSError:
        return []
