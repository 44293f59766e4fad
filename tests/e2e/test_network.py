"""Networks with real traffic: published ports, names on user networks, UDP, isolation, and no leaks."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import free_port


def _fetch(url: str, timeout: float = 10.0) -> str:
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


@pytest.fixture
def net(bb):
    """A user network of this test: its own subnet and bridge name, so parallel tests never collide."""
    tag = os.urandom(3).hex()
    subnet = f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24"
    name = f"net{tag}"
    bb("network", "create", "--subnet", subnet, "--interface-name", f"bt{tag}", name)
    yield {"name": name, "subnet": subnet, "bridge": f"bt{tag}"}
    bb("rm", "-af", "-t", "0", check=False)
    bb("network", "rm", "-f", name, check=False)
    # nothing of the network is left on the host
    assert not os.path.exists(f"/sys/class/net/bt{tag}")
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert subnet not in rules


def test_published_port_reaches_the_container_from_the_host(bb):
    port = free_port()
    bb("run", "-d", "--name", "web", "-p", f"{port}:8080", "localhost/busybox", "httpd", "-f", "-p", "8080",
       "-h", "/www")
    assert _fetch(f"http://127.0.0.1:{port}/").strip() == "hello from berth"
    assert bb.out("port", "web") == f"8080/tcp -> 0.0.0.0:{port}"
    assert f"0.0.0.0:{port}->8080/tcp" in bb.out("ps", "--format", "{{.Ports}}")
    ports = json.loads(bb.out("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"))
    assert ports == {"8080/tcp": [{"HostIp": "", "HostPort": str(port)}]}


def test_random_host_port_and_publish_all(bb):
    bb("run", "-d", "--name", "r", "-p", "8080", "localhost/busybox", "httpd", "-f", "-p", "8080", "-h", "/www")
    host = bb.out("port", "r", "8080")
    assert host.startswith("0.0.0.0:")
    assert _fetch(f"http://127.0.0.1:{host.split(':')[1]}/").strip() == "hello from berth"
    bb("run", "-d", "--name", "pa", "--expose", "8080", "-P", "localhost/busybox", "httpd", "-f", "-p", "8080",
       "-h", "/www")
    host = bb.out("port", "pa", "8080/tcp")
    assert _fetch(f"http://127.0.0.1:{host.split(':')[1]}/").strip() == "hello from berth"


def test_a_taken_port_is_refused_and_nothing_is_left(bb):
    port = free_port()
    bb("run", "-d", "--name", "first", "-p", f"{port}:8080", "localhost/busybox", "sleep", "300")
    r = bb.fail("run", "-d", "--name", "second", "-p", f"{port}:8080", "localhost/busybox", "sleep", "300",
                code=125)
    assert r.stderr.strip() == (f"Error: cannot listen on the TCP port: listen tcp4 :{port}: bind: "
                                "address already in use")
    assert bb.out("ps", "-a", "--format", "{{.Names}}") == "first"
    assert len(os.listdir(os.path.join(bb.runroot, "netns"))) == 1


def _udp_noports(b, name: str) -> int:
    """Udp NoPorts of the container's network stack: datagrams that arrived for a port nobody holds."""
    lines = [ln.split() for ln in b.out("exec", name, "cat", "/proc/net/snmp").splitlines() if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("NoPorts")])


def test_udp_publish(bb):
    # the image has no UDP server; the container's own UDP counters show the datagrams arrive
    port = free_port()
    bb("run", "-d", "--name", "udp", "-p", f"{port}:9000/udp", "localhost/busybox", "sleep", "300")
    before = _udp_noports(bb, "udp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(b"ping", ("127.0.0.1", port))
    time.sleep(0.5)
    assert _udp_noports(bb, "udp") - before >= 3
    assert bb.out("port", "udp") == f"9000/udp -> 0.0.0.0:{port}"


def test_containers_find_each_other_by_name_and_alias(bb, net):
    bb("run", "-d", "--name", "server", "--network", net["name"], "--network-alias", "web", "localhost/busybox",
       "httpd", "-f", "-p", "80", "-h", "/www")
    # aardvark-dns 1.4 (Debian 12) closes and reopens its sockets on every SIGHUP (netavark sends one as
    # each container comes and goes), so a query in that window is refused (aardvark-dns#389): the
    # client asks up to three times, as a resolver with retries would
    for host in ("server", "web"):
        out = bb.out("run", "--rm", "--network", net["name"], "localhost/busybox", "sh", "-c",
                     f"for i in 1 2 3; do wget -qO- http://{host}/ && exit; sleep 0.2; done; exit 1")
        assert out == "hello from berth"
    resolv = bb.out("run", "--rm", "--network", net["name"], "localhost/busybox", "cat", "/etc/resolv.conf")
    gateway = net["subnet"].rsplit(".", 1)[0] + ".1"
    assert f"nameserver {gateway}" in resolv and "search dns.podman" in resolv
    ip = bb.out("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{net['name']}\").IPAddress}}}}", "server")
    hosts = bb.out("exec", "server", "cat", "/etc/hosts")
    assert f"{ip}\t" in hosts and "server" in hosts


def test_static_ip_and_connect_disconnect(bb, net):
    ip = net["subnet"].rsplit(".", 1)[0] + ".77"
    bb("run", "-d", "--name", "s", "--network", net["name"], "--ip", ip, "localhost/busybox", "sleep", "300")
    assert ip in bb.out("exec", "s", "ip", "-4", "addr", "show", "eth0")
    bb("run", "-d", "--name", "t", "localhost/busybox", "sleep", "300")
    bb("network", "connect", net["name"], "t")
    assert "eth1" in bb.out("exec", "t", "cat", "/proc/net/dev")
    assert bb.out("exec", "t", "ping", "-c", "1", "-W", "3", ip, check=False) is not None
    bb("network", "disconnect", net["name"], "t")
    assert "eth1" not in bb.out("exec", "t", "cat", "/proc/net/dev")
    assert bb.out("network", "inspect", "-f", "{{len .containers}}", net["name"]) == "1"


def test_internal_network_has_no_way_out(bb):
    tag = os.urandom(3).hex()
    subnet = f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24"
    bb("network", "create", "--internal", "--subnet", subnet, "--interface-name", f"bi{tag}", f"int{tag}")
    routes = bb.out("run", "--rm", "--network", f"int{tag}", "localhost/busybox", "ip", "route")
    assert "default" not in routes
    port = free_port()
    bb("run", "-d", "--name", "pub", "-p", f"{port}:8080", "localhost/busybox", "httpd", "-f", "-p", "8080",
       "-h", "/www")
    host_ip = bb.out("inspect", "-f", "{{.NetworkSettings.Gateway}}", "pub")
    r = bb("run", "--rm", "--network", f"int{tag}", "localhost/busybox", "wget", "-T", "3", "-qO-",
           f"http://{host_ip}:{port}/", check=False)
    assert r.returncode != 0
    bb("rm", "-af", "-t", "0")
    bb("network", "rm", f"int{tag}")


def test_host_none_and_container_modes(bb):
    before = set(os.listdir("/sys/class/net"))
    out = bb.out("run", "--rm", "--network", "host", "localhost/busybox", "ls", "/sys/class/net")
    after = set(os.listdir("/sys/class/net"))
    # the host's interfaces, give or take the veths that parallel tests add and remove meanwhile
    assert before & after <= set(out.split()) <= before | after
    assert "lo" in out.split() and len(before & after) > 1
    out = bb.out("run", "--rm", "--network", "none", "localhost/busybox", "cat", "/proc/net/dev")
    assert [ln.split(":")[0].strip() for ln in out.splitlines()[2:]] == ["lo"]
    bb("run", "-d", "--name", "owner", "localhost/busybox", "httpd", "-f", "-p", "8080", "-h", "/www")
    out = bb.out("run", "--rm", "--network", "container:owner", "localhost/busybox", "wget", "-qO-",
                 "http://127.0.0.1:8080/")
    assert out == "hello from berth"
    assert bb.fail("run", "--rm", "--network", "nosuchnet", "localhost/busybox", "true", code=125).stderr.strip() == \
        "Error: unable to find network with name or ID nosuchnet: network not found"
    assert bb.out("ps", "-a", "--format", "{{.Names}}") == "owner"


def test_dns_and_hosts_options(bb):
    out = bb.out("run", "--rm", "--dns", "9.9.9.9", "--dns-search", "example.org", "--dns-option", "ndots:2",
                 "--add-host", "db.local:10.9.8.7", "-h", "myhost", "localhost/busybox", "sh", "-c",
                 "cat /etc/resolv.conf /etc/hosts; hostname")
    assert "nameserver 9.9.9.9" in out and "search example.org" in out and "options ndots:2" in out
    assert "10.9.8.7\tdb.local" in out and out.endswith("myhost")
    # --no-hosts: the image's own /etc/hosts (this image has none) instead of berth's
    out = bb.out("run", "--rm", "--no-hosts", "localhost/busybox", "sh", "-c", "cat /etc/hosts 2>&1; true")
    assert "host.containers.internal" not in out and "No such file" in out


def test_network_commands(bb, net):
    assert bb.out("network", "ls", "--format", "{{.Name}}").split() == sorted(["podman", net["name"]])
    assert bb.out("network", "ls", "-q", "--filter", f"name={net['name']}") == net["name"]
    doc = json.loads(bb.out("network", "inspect", net["name"]))[0]
    assert doc["subnets"][0]["subnet"] == net["subnet"] and doc["dns_enabled"] is True
    assert bb("network", "exists", net["name"]).returncode == 0
    assert bb("network", "exists", "nope", check=False).returncode == 1
    r = bb.fail("network", "create", "--subnet", net["subnet"], "other", code=125)
    assert "already used" in r.stderr
    bb("run", "-d", "--name", "user", "--network", net["name"], "localhost/busybox", "sleep", "300")
    r = bb.fail("network", "rm", net["name"])
    assert "has associated containers" in r.stderr
    tag = os.urandom(3).hex()
    bb("network", "create", "--subnet", f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24",
       "--interface-name", f"bp{tag}", f"prune{tag}")
    assert bb.out("network", "prune", "-f") == f"prune{tag}"


def test_a_network_setup_failing_beside_the_runtime_leaves_nothing(bb):
    """netavark runs while conmon and runc create the container; when it fails (here the kernel
    refuses a multicast MAC address) the created container is taken down with it."""
    from berth.network.netns import netns_dir
    from tests.conftest import conmons_for, mounts_under

    r = bb.fail("run", "--rm", "--mac-address", "01:00:5e:00:00:01", "localhost/busybox", "true", code=125)
    assert r.stderr.startswith("Error: netavark: ")
    assert bb.out("ps", "-a", "-q") == ""
    assert not conmons_for(bb.runroot)
    assert not mounts_under(bb.root)
    left = netns_dir(bb.runroot)
    assert not os.path.isdir(left) or os.listdir(left) == []


def test_a_bridge_stays_up_between_containers_and_goes_with_its_network(bb):
    """berth holds a network's bridge with a veth pair of its own, so the next container does not
    pay for netavark rebuilding it (Docker keeps docker0 up likewise); everything of each container
    still goes with it, and the bridge and its rules go with the network."""
    from berth.network import bridgekeep
    from berth.network.netns import netns_dir

    tag = os.urandom(3).hex()
    subnet = f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24"
    bridge = f"bk{tag}"
    bb("network", "create", "--subnet", subnet, "--interface-name", bridge, f"keep{tag}")
    try:
        for _ in range(2):
            assert bb.out("run", "--rm", "--network", f"keep{tag}", "localhost/busybox", "sh", "-c",
                          "ip -4 -o addr show eth0 | wc -l") == "1"
            # the bridge is up, holding only berth's own port: the container's veth went with it
            assert os.path.isdir(f"/sys/class/net/{bridge}")
            assert bridgekeep.ports(bridge) == [bridgekeep.names(bridge)[0]]
            left = netns_dir(bb.runroot)
            assert not os.path.isdir(left) or os.listdir(left) == []
    finally:
        bb("network", "rm", f"keep{tag}")
    assert not os.path.exists(f"/sys/class/net/{bridge}")
    assert not os.path.exists(f"/sys/class/net/{bridgekeep.names(bridge)[0]}")
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert subnet not in rules
