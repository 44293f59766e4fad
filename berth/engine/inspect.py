"""The documents `inspect`, `ps --format json` and `images --format json` print (Podman's shapes)."""

from __future__ import annotations

import os

from berth.engine.container import Container
from berth.engine.runtime import Runtime
from berth.engine.state import Status
from berth.util.timefmt import ago, go_time_string, human_duration, rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"


def status_text(c: Container, now: float) -> str:
    s = c.status
    if s is Status.RUNNING:
        health = (c.state.get("health") or {}).get("Status")
        up = "Up " + human_duration(now - c.state.get("started_at", now))
        return f"{up} ({health})" if health else up
    if s is Status.PAUSED:
        return "Paused"
    if s in (Status.STOPPED, Status.EXITED):
        if not c.state.get("started_at"):
            return "Created" if not c.state.get("finished_at") else f"Exited ({c.state.get('exit_code', 0)}) " + \
                ago(c.state["finished_at"], now)
        return f"Exited ({c.state.get('exit_code', 0)}) {ago(c.state.get('finished_at') or now, now)}"
    if s is Status.REMOVING:
        return "Removing"
    return "Created"


def _size(path: str) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
                total += st.st_size if not os.path.isdir(os.path.join(dirpath, n)) else 0
            except OSError:
                pass
    return total


def ps_entry(rt: Runtime, c: Container, now: float, size: bool = False) -> dict:
    cfg = c.config
    exited = c.status in (Status.STOPPED, Status.EXITED)
    entry = {
        "AutoRemove": bool(cfg.get("auto_remove")),
        "Command": cfg.get("args") or None,
        "CreatedAt": ago(c.created, now),
        "Exited": exited,
        "ExitedAt": int(c.state.get("finished_at") or -62135596800) if exited else -62135596800,
        "ExitCode": c.state.get("exit_code", 0),
        "Id": c.id,
        "Image": cfg.get("image_name", ""),
        "ImageID": c.image_id,
        "IsInfra": False,
        "Labels": cfg.get("labels") or None,
        "Mounts": [m["destination"] for m in cfg.get("volume_mounts") or []],
        "Names": [c.name],
        "Namespaces": {},
        "Networks": sorted((cfg.get("networks") or {}).keys()),
        "Pid": c.state.get("pid", 0) if c.status.is_alive() else 0,
        "Pod": "",
        "PodName": "",
        "Ports": _ps_ports(c) or None,
        "Restarts": c.state.get("restart_count", 0),
        "Size": None,
        "StartedAt": int(c.state.get("started_at") or -62135596800),
        "State": c.shown_state(),
        "Status": status_text(c, now),
        "Created": int(c.created),
    }
    if size:
        rw = _size(rt.layers.container_changes_dir(c.id))
        img = rt.images.get(c.image_id).size if rt.db.image_row(c.image_id) else 0
        entry["Size"] = {"rwSize": rw, "rootFsSize": img + rw}
    return entry


def container_inspect(rt: Runtime, c: Container) -> dict:
    from berth.engine import volmounts

    cfg = c.config
    st = c.state
    bundle = rt.bundle(c.id)
    rd = rt.rundir(c.id)
    running = c.status is Status.RUNNING
    exited = c.status in (Status.STOPPED, Status.EXITED)
    from berth.oci.spec import capabilities

    caps = ["CAP_" + x for x in capabilities(cfg, rt.conf.default_capabilities)]
    sig = cfg.get("stop_signal", 15)
    import signal  # here: its enums cost ~0.5 ms, and ps builds no inspect document

    try:
        sig_name = signal.Signals(sig).name
    except ValueError:
        sig_name = str(sig)
    net = cfg.get("network", "none")
    driver = cfg.get("driver", "overlay")
    layer_dir = rt.layers.container_dir(c.id)
    graph = {"Name": driver, "Data": {}}
    if driver == "overlay":
        graph["Data"] = {"MergedDir": os.path.join(layer_dir, "merged"), "UpperDir": os.path.join(layer_dir, "diff"),
                         "WorkDir": os.path.join(layer_dir, "work")}
    return {
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": cfg["args"][0] if cfg.get("args") else "",
        "Args": cfg.get("args", [])[1:],
        "State": {
            "OciVersion": "1.0.2-dev",
            "Status": c.shown_state() if c.status is not Status.CREATED else "created",
            "Running": running,
            "Paused": c.status is Status.PAUSED,
            "Restarting": False,
            "OOMKilled": bool(st.get("oom_killed")),
            "Dead": False,
            "Pid": st.get("pid", 0) if c.status.is_alive() else 0,
            "ConmonPid": st.get("conmon_pid", 0) if c.status.is_alive() else 0,
            "ExitCode": st.get("exit_code", 0),
            "Error": st.get("error", ""),
            "StartedAt": rfc3339(st["started_at"]) if st.get("started_at") else ZERO_TIME,
            "FinishedAt": rfc3339(st["finished_at"]) if st.get("finished_at") and exited else ZERO_TIME,
            "Health": st.get("health") or {"Status": "", "FailingStreak": 0, "Log": None},
            "CheckpointedAt": ZERO_TIME,
            "RestoredAt": ZERO_TIME,
        },
        "Image": c.image_id,
        "ImageDigest": "",
        "ImageName": cfg.get("image_name", ""),
        "Rootfs": "",
        "Pod": "",
        "ResolvConfPath": os.path.join(rd, "resolv.conf"),
        "HostnamePath": os.path.join(rd, "hostname"),
        "HostsPath": os.path.join(rd, "hosts"),
        "StaticDir": bundle,
        "OCIConfigPath": os.path.join(bundle, "config.json"),
        "OCIRuntime": rt.oci.name,
        "ConmonPidFile": os.path.join(rd, "conmon.pid"),
        "PidFile": os.path.join(rd, "pidfile"),
        "Name": c.name,
        "RestartCount": st.get("restart_count", 0),
        "Driver": driver,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "EffectiveCaps": caps,
        "BoundingCaps": caps,
        "ExecIDs": [],
        "GraphDriver": graph,
        "Mounts": volmounts.inspect_mounts(c),
        "Dependencies": [],
        "NetworkSettings": network_settings(c),
        "Namespace": "",
        "IsInfra": False,
        "IsService": False,
        "Config": {
            "Hostname": cfg.get("hostname", ""),
            "Domainname": "",
            "User": cfg.get("user", ""),
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": bool(cfg.get("tty")),
            "OpenStdin": bool(cfg.get("interactive")),
            "StdinOnce": False,
            "Env": cfg.get("env", []),
            "Cmd": cfg.get("command") or None,
            "Image": cfg.get("image_name", ""),
            "Volumes": None,
            "WorkingDir": cfg.get("workdir", "/"),
            "Entrypoint": " ".join(cfg.get("entrypoint") or []),
            "OnBuild": None,
            "Labels": cfg.get("labels") or None,
            "Annotations": cfg.get("annotations") or {},
            "StopSignal": sig_name if sig_name.startswith("SIG") else str(sig),
            "StopTimeout": cfg.get("stop_timeout", 10),
            "CreateCommand": cfg.get("create_command") or None,
            "Umask": "0022",
            "Timeout": 0,
            "Passwd": True,
            "sdNotifyMode": cfg.get("sdnotify", "container"),
            "Healthcheck": _healthcheck_doc(cfg.get("healthcheck")),
            "HealthcheckOnFailureAction": (cfg.get("healthcheck") or {}).get("OnFailure", "none"),
        },
        "HostConfig": {
            "Binds": volmounts.binds(c),
            "CgroupManager": "cgroupfs",
            "CgroupMode": "private" if not rt.rootless else "host",
            "ContainerIDFile": cfg.get("cidfile", ""),
            "LogConfig": {"Type": cfg.get("log_driver", "k8s-file"),
                          "Config": None, "Path": os.path.join(bundle, "ctr.log"), "Tag": "", "Size": "0B"},
            "NetworkMode": net,
            "PortBindings": _port_bindings(cfg.get("ports") or []),
            "RestartPolicy": {"Name": cfg.get("restart_policy", ""),
                              "MaximumRetryCount": cfg.get("restart_retries", 0)},
            "AutoRemove": bool(cfg.get("auto_remove")),
            "VolumeDriver": "",
            "VolumesFrom": cfg.get("volumes_from") or None,
            "CapAdd": [("CAP_" + x.upper().removeprefix("CAP_")) for x in cfg.get("cap_add", [])],
            "CapDrop": [("CAP_" + x.upper().removeprefix("CAP_")) for x in cfg.get("cap_drop", [])],
            "Dns": cfg.get("dns") or [], "DnsOptions": cfg.get("dns_option") or [],
            "DnsSearch": cfg.get("dns_search") or [], "ExtraHosts": cfg.get("add_hosts") or [],
            "GroupAdd": cfg.get("group_add", []),
            "IpcMode": "shareable", "Cgroup": "", "Cgroups": "default", "Links": None, "OomScoreAdj": 0,
            "PidMode": "private",
            "Privileged": bool(cfg.get("privileged")),
            "Init": bool(cfg.get("init")),
            "PublishAllPorts": False,
            "ReadonlyRootfs": bool(cfg.get("read_only")),
            "SecurityOpt": cfg.get("security_opt", []),
            "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in cfg.get("tmpfs", [])},
            "UTSMode": "private", "UsernsMode": "", "ShmSize": 65536000, "Runtime": "oci",
            "ConsoleSize": [0, 0], "Isolation": "", "CpuShares": 0,
            "Memory": cfg.get("memory", 0),
            "NanoCpus": int(float(cfg.get("cpus") or 0) * 1e9),
            "CgroupParent": "", "BlkioWeight": 0, "CpuPeriod": 100000 if cfg.get("cpus") else 0,
            "CpuQuota": int(float(cfg.get("cpus") or 0) * 100000),
            "PidsLimit": cfg.get("pids_limit") or 0,
            "Ulimits": [{"Name": "RLIMIT_" + u.split("=")[0].upper(), "Soft": int(u.split("=")[1].split(":")[0]),
                         "Hard": int(u.split("=")[1].split(":")[-1])} for u in cfg.get("ulimits", [])],
        },
    }


def _ps_ports(c: Container) -> list[dict]:
    ports = c.state.get("ports") if c.status.is_alive() else None
    return [{"host_ip": p["host_ip"], "container_port": p["container_port"], "host_port": p["host_port"],
             "range": p["range"], "protocol": p["protocol"]} for p in (ports or c.config.get("ports") or [])]


def _port_bindings(ports: list[dict]) -> dict:
    out: dict = {}
    for p in ports:
        for k in range(p["range"]):
            host = str(p["host_port"] + k) if p["host_port"] else ""
            out.setdefault(f"{p['container_port'] + k}/{p['protocol']}", []).append(
                {"HostIp": p["host_ip"], "HostPort": host})
    return out


def network_settings(c: Container) -> dict:
    from berth.engine.network import primary_ip

    ip, gw, plen, mac = primary_ip(c)
    alive = c.status.is_alive()
    nets = {}
    payload = c.state.get("network_payload") or {}
    status = c.state.get("network_status") or {}
    for name, opts in (c.config.get("networks") or {}).items():
        entry = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                 "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "",
                 "NetworkID": (payload.get("network_info") or {}).get(name, {}).get("id", name),
                 "DriverOpts": None, "IPAMConfig": None, "Links": None,
                 "Aliases": [c.id[:12]] + list(opts.get("aliases") or [])}
        for iface in ((status.get(name) or {}).get("interfaces") or {}).values() if alive else []:
            for sub in iface.get("subnets") or []:
                a, _, pl = sub.get("ipnet", "").partition("/")
                entry.update(IPAddress=a, IPPrefixLen=int(pl or 0), Gateway=sub.get("gateway", ""),
                             MacAddress=iface.get("mac_address", ""))
        nets[name] = entry
    doc = {"EndpointID": "", "Gateway": gw if alive else "", "IPAddress": ip if alive else "",
           "IPPrefixLen": plen if alive else 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
           "GlobalIPv6PrefixLen": 0, "MacAddress": mac if alive else "", "Bridge": "", "SandboxID": "",
           "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
           "Ports": _port_bindings(_ps_ports(c)) if alive else {},
           "SandboxKey": c.state.get("netns", "") if alive else ""}
    if nets:
        doc["Networks"] = nets
    return doc


def _healthcheck_doc(hc: dict | None) -> dict | None:
    if not hc:
        return None
    ns = 1_000_000_000
    return {"Test": hc["Test"], "StartPeriod": int(hc.get("StartPeriod", 0) * ns),
            "Interval": int(hc.get("Interval", 0) * ns), "Timeout": int(hc.get("Timeout", 0) * ns),
            "Retries": hc.get("Retries", 3)}


def image_list_entry(img, containers: int) -> dict:
    names = img.names
    return {
        "Id": img.id,
        "ParentId": "",
        "RepoTags": img.repo_tags() or None,
        "RepoDigests": img.repo_digests() or None,
        "Size": img.size,
        "SharedSize": 0,
        "VirtualSize": img.size,
        "Labels": img.run_config.get("Labels") or {},
        "Containers": containers,
        "Names": names or None,
        "Digest": img.digest or f"sha256:{img.id}",
        "History": names or None,
        "Created": int(img.created),
        "CreatedAt": rfc3339(img.created),
    }


def image_inspect(img) -> dict:
    rc = img.run_config
    return {
        "Id": img.id,
        "Digest": img.digest or f"sha256:{img.id}",
        "RepoTags": img.repo_tags(),
        "RepoDigests": img.repo_digests(),
        "Parent": "",
        "Comment": (img.config.get("history") or [{}])[-1].get("comment", ""),
        "Created": rfc3339(img.created),
        "Config": rc,
        "Version": "",
        "Author": img.config.get("author", ""),
        "Architecture": img.config.get("architecture", ""),
        "Os": img.config.get("os", ""),
        "Size": img.size,
        "VirtualSize": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Labels": rc.get("Labels") or None,
        "Annotations": {},
        "ManifestType": "application/vnd.oci.image.manifest.v1+json",
        "User": rc.get("User", ""),
        "History": img.config.get("history", []),
        "NamesHistory": img.names,
    }


__all__ = ["container_inspect", "ps_entry", "image_inspect", "image_list_entry", "go_time_string"]
