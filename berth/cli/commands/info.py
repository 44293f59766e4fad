"""berth info."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--format", default=None, help="Change the output format to JSON or a Go template")
    p.add_argument("-D", "--debug", action="store_true", help="Display additional debug information")


def _first_line(argv: list[str]) -> str:
    import subprocess

    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return ""


def run(args: flagparse.Namespace) -> int:
    import os
    import platform

    from berth.cli.commands.version import version_info
    from berth.cli.main import engine
    from berth.cli.output import print_json, template_each
    from berth.oci.conmon import find_conmon

    rt = engine(args)
    ctrs = rt.containers()
    running = sum(1 for c in ctrs if c.status.value == "running")
    paused = sum(1 for c in ctrs if c.status.value == "paused")
    conmon = find_conmon()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    uname = os.uname()
    cgv = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    info = {
        "host": {
            "arch": version_info()["Client"]["OsArch"].split("/")[1],
            "buildahVersion": "",
            "cgroupManager": rt.opts.cgroup_manager,
            "cgroupVersion": cgv,
            "conmon": {"package": "conmon", "path": conmon, "version": _first_line([conmon, "--version"])},
            "cpus": os.cpu_count(),
            "distribution": _distribution(),
            "eventLogger": rt.opts.events_backend,
            "hostname": uname.nodename,
            "kernel": uname.release,
            "memTotal": mem,
            "ociRuntime": {"name": rt.oci.name, "package": rt.oci.name, "path": rt.oci.path,
                           "version": rt.oci.version()},
            "os": "linux",
            "rootless": rt.rootless,
            "security": {"capabilities": ",".join("CAP_" + c for c in rt.conf.default_capabilities),
                         "rootless": rt.rootless, "seccompEnabled": True,
                         "seccompProfilePath": "/usr/share/containers/seccomp.json", "selinuxEnabled": False},
            "uptime": _uptime(),
            "idMappings": _idmaps(rt),
            "networkBackend": _rootless_network_cmd(rt) if rt.rootless else "netavark",
            "rootlessNetworkCmd": _rootless_network_cmd(rt) if rt.rootless else "",
            "pasta": _tool("pasta"),
            "slirp4netns": _tool("slirp4netns"),
            "criu": _criu(),
        },
        "store": {
            "configFile": "",
            "containerStore": {"number": len(ctrs), "paused": paused, "running": running,
                               "stopped": len(ctrs) - running - paused},
            "graphDriverName": rt.layers.driver,
            "graphOptions": _graph_options(rt.layers),
            "graphRoot": rt.root,
            "imageStore": {"number": len(rt.db.image_rows())},
            "runRoot": rt.runroot,
        },
        "version": version_info()["Client"],
    }
    info["version"]["Python"] = platform.python_version()
    # Podman's Go struct field names, for --format templates ({{.Host.OCIRuntime.Name}})
    view = _go_view(info)
    if args.format == "json":
        print_json(info)
    elif args.format:
        template_each([view], args.format)
    else:
        _print_yaml(info, 0)
    return 0


_GO_NAMES = {"host": "Host", "store": "Store", "version": "Version", "ociRuntime": "OCIRuntime",
             "graphDriverName": "GraphDriverName", "graphRoot": "GraphRoot", "runRoot": "RunRoot",
             "containerStore": "ContainerStore", "imageStore": "ImageStore", "cgroupManager": "CgroupManager",
             "cgroupVersion": "CgroupsVersion", "idMappings": "IDMappings", "uidmap": "UIDMap",
             "gidmap": "GIDMap", "container_id": "ContainerID", "host_id": "HostID", "size": "Size",
             "networkBackend": "NetworkBackend", "rootlessNetworkCmd": "RootlessNetworkCmd", "memTotal": "MemTotal", "eventLogger": "EventLogger",
             "buildahVersion": "BuildahVersion", "graphOptions": "GraphOptions", "configFile": "ConfigFile",
             "seccompEnabled": "SECCOMPEnabled", "seccompProfilePath": "SECCOMPProfilePath",
             "selinuxEnabled": "SELinuxEnabled"}


def _go_view(d):
    if isinstance(d, dict):
        # graphOptions is a map in Podman: its keys ("overlay.mount_program") stay as they are
        return {_GO_NAMES.get(k, k[:1].upper() + k[1:]): v if k == "graphOptions" else _go_view(v)
                for k, v in d.items()}
    if isinstance(d, list):
        return [_go_view(x) for x in d]
    return d


def _print_yaml(d: dict, indent: int) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            print(" " * indent + f"{k}:")
            _print_yaml(v, indent + 2)
        else:
            val = str(v).lower() if isinstance(v, bool) else v
            print(" " * indent + f"{k}: {val}")


def _idmaps(rt) -> dict:
    if not rt.rootless:
        return {}
    out = {}
    for kind in ("uid", "gid"):
        try:
            with open(f"/proc/self/{kind}_map") as f:
                out[f"{kind}map"] = [{"container_id": int(a), "host_id": int(b), "size": int(c)}
                                     for a, b, c in (line.split() for line in f if line.strip())]
        except OSError:
            out[f"{kind}map"] = []
    return out


def _rootless_network_cmd(rt) -> str:
    from berth.engine.network import rootless_network_cmd

    return rootless_network_cmd(rt)


def _graph_options(layers) -> dict:
    """Podman's shape: the mount program, when overlay runs in user space."""
    if not layers.mount_program:
        return {}
    from berth.storage.fuse_overlay import version

    return {"overlay.mount_program": {"Executable": layers.mount_program, "Package": "fuse-overlayfs",
                                      "Version": version(layers.mount_program)}}


def _tool(name: str) -> dict:
    import shutil

    path = shutil.which(name) or ""
    return {"executable": path, "package": "passt" if name == "pasta" else name,
            "version": _first_line([path, "--version"]) if path else ""}


def _criu() -> dict:
    from berth.oci.checkpoint import find_criu

    path, ver = find_criu()
    return {"path": path, "version": ver if path else "", "checkpointAvailable": bool(path),
            "reason": "" if path else ver}


def _distribution() -> dict:
    out = {"distribution": "", "version": ""}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == "ID":
                    out["distribution"] = v.strip('"')
                elif k == "VERSION_ID":
                    out["version"] = v.strip('"')
                elif k == "VERSION_CODENAME":
                    out["codename"] = v.strip('"')
    except OSError:
        pass
    return out


def _uptime() -> str:
    try:
        with open("/proc/uptime") as f:
            s = int(float(f.read().split()[0]))
    except OSError:
        return ""
    return f"{s // 3600}h {s % 3600 // 60}m {s % 60}s"
