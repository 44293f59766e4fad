"""Flags shared by `create` and `run`, and their translation into CreateOptions."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.engine.options import CreateOptions
from berth.errors import InvalidArgument


def _kv(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for it in items or []:
        k, _, v = it.partition("=")
        if not k:
            raise InvalidArgument(f"invalid {what} {it!r}")
        out[k] = v
    return out


def add_create_flags(p: flagparse.ArgumentParser, run: bool) -> None:
    a = p.add_argument
    a("--name", default="", help="Assign a name to the container")
    a("-e", "--env", action="append", default=[], help="Set environment variables in container")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("-w", "--workdir", default="", help="Working directory inside the container")
    a("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("--group-add", action="append", default=[], help="Add additional groups to the primary container process")
    a("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image")
    a("-h", "--hostname", default="", help="Set container hostname")
    a("-l", "--label", action="append", default=[], help="Set metadata on container")
    a("--annotation", action="append", default=[], help="Add annotations to container (key=value)")
    a("--network", "--net", action="append", default=[], help="Connect a container to a network")
    a("--network-alias", action="append", default=[], help="Add network-scoped alias for the container")
    a("--ip", default="", help="Specify a static IPv4 address for the container")
    a("--mac-address", default="", help="Container MAC address (e.g. 92:d0:c6:0a:29:33)")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port, or a range of ports, to the host")
    a("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports on the host interface")
    a("--expose", action="append", default=[], help="Expose a port or a range of ports")
    a("--dns", action="append", default=[], help="Set custom DNS servers")
    a("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    a("--dns-option", "--dns-opt", action="append", default=[], help="Set custom DNS options")
    a("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    a("--no-hosts", action="store_true", help="Do not create /etc/hosts within the container")
    a("--userns", default="", help="User namespace to use (host, keep-id[:uid=,gid=], auto[:size=], nomap)")
    a("--uidmap", action="append", default=[], help="UID map to use for the user namespace (CONTAINER:HOST:SIZE)")
    a("--gidmap", action="append", default=[], help="GID map to use for the user namespace (CONTAINER:HOST:SIZE)")
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY for container")
    a("--rm", action="store_true", help="Remove container (and pod if created) after exit")
    a("--replace", action="store_true", help="If a container with the same name exists, replace it")
    a("--cidfile", default="", help="Write the container ID to the file")
    a("--stop-signal", default="", help="Signal to stop a container. Default is SIGTERM")
    a("--stop-timeout", default=None, help="Timeout (in seconds) to stop a container")
    a("--init", action="store_true", help="Run an init binary inside the container that forwards signals")
    a("--read-only", action="store_true", help="Make containers root filesystem read-only")
    a("--read-only-tmpfs", default="true", help="When running --read-only containers mount read-write tmpfs on "
      "/dev, /dev/shm, /run, /tmp and /var/tmp")
    a("--tmpfs", action="append", default=[], help="Mount a temporary filesystem (tmpfs) into a container")
    a("-v", "--volume", action="append", default=[], help="Bind mount a volume into the container")
    a("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    a("--volumes-from", action="append", default=[], help="Mount volumes from the specified container(s)")
    a("--image-volume", default="bind", choices=["bind", "anonymous", "tmpfs", "ignore"],
      help="Tells berth how to handle the builtin image volumes")
    a("--ulimit", action="append", default=[], help="Ulimit options")
    a("--cap-add", action="append", default=[], help="Add capabilities to the container")
    a("--cap-drop", action="append", default=[], help="Drop capabilities from the container")
    a("--privileged", action="store_true", help="Give extended privileges to container")
    a("--security-opt", action="append", default=[], help="Security Options")
    a("-m", "--memory", default="", help="Memory limit (format: <number>[<unit>])")
    a("--cpus", default="", help="Number of CPUs. The default is 0.000 which means no limit")
    a("--pids-limit", default=None, help="Tune container pids limit (set -1 for unlimited)")
    a("--restart", default="", help="Restart policy to apply when a container exits")
    a("--log-driver", default="k8s-file", help="Logging driver for the container")
    a("--pull", default="missing", choices=["always", "missing", "never", "newer"],
      help="Pull image policy")
    a("--sig-proxy", default="true", help="Proxy received signals to the process")
    a("--sdnotify", default="container", choices=["container", "conmon", "ignore", "healthy"],
      help="control sd-notify behavior")
    a("--health-cmd", default="", help="set a healthcheck command for the container ('none' disables the existing healthcheck)")
    a("--health-interval", default="30s", help="set an interval for the healthcheck (a value of disable results in no automatic timer setup)")
    a("--health-retries", default="3", help="the number of retries allowed before a healthcheck is considered to be unhealthy")
    a("--health-start-period", default="0s", help="the initialization time needed for a container to bootstrap")
    a("--health-timeout", default="30s", help="the maximum time allowed to complete the healthcheck before an interval is considered failed")
    a("--health-on-failure", default="none", help="action to take once the container turns unhealthy")
    a("--no-healthcheck", action="store_true", help="Disable healthchecks on container")
    if run:
        a("-d", "--detach", action="store_true", help="Run container in background and print container ID")
        a("--detach-keys", default="ctrl-p,ctrl-q", help="Override the key sequence for detaching a container")
        a("-a", "--attach", action="append", default=[], help="Attach to STDIN, STDOUT or STDERR")
    p.add_argument("image", help="IMAGE")
    p.add_argument("command", nargs=flagparse.REMAINDER, help="COMMAND [ARG...]")


def _bool(v: str, flag: str) -> bool:
    if v.lower() in ("true", "1", "yes", ""):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise InvalidArgument(f'invalid argument "{v}" for "{flag}" flag: strconv.ParseBool: parsing "{v}": invalid syntax')


def to_options(args: flagparse.Namespace) -> CreateOptions:
    from berth.util.timefmt import parse_bytes

    memory = 0
    if args.memory:
        try:
            memory = parse_bytes(args.memory)
        except InvalidArgument:
            raise InvalidArgument(f"invalid argument \"{args.memory}\" for \"-m, --memory\" flag: "
                                  f"invalid size: '{args.memory}'") from None
    cpus = 0.0
    if args.cpus:
        try:
            cpus = float(args.cpus)
        except ValueError:
            raise InvalidArgument(f'invalid argument "{args.cpus}" for "--cpus" flag: '
                                  f'strconv.ParseFloat: parsing "{args.cpus}": invalid syntax') from None
    stop_timeout = None
    if args.stop_timeout is not None:
        try:
            stop_timeout = int(args.stop_timeout)
        except ValueError:
            raise InvalidArgument(f'invalid argument "{args.stop_timeout}" for "--stop-timeout" flag: '
                                  f'strconv.ParseUint: parsing "{args.stop_timeout}": invalid syntax') from None
    pids = None
    if args.pids_limit is not None:
        try:
            pids = int(args.pids_limit)
        except ValueError:
            raise InvalidArgument(f'invalid argument "{args.pids_limit}" for "--pids-limit" flag: '
                                  f'strconv.ParseInt: parsing "{args.pids_limit}": invalid syntax') from None
        if pids <= 0:
            pids = None
    entrypoint = None
    if args.entrypoint is not None:
        ep = args.entrypoint
        if ep.startswith("["):
            import json

            try:
                entrypoint = list(json.loads(ep))
            except ValueError:
                entrypoint = [ep]
        else:
            entrypoint = [ep] if ep else []
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return CreateOptions(
        image=args.image, command=command, name=args.name, entrypoint=entrypoint, env=args.env,
        env_files=args.env_file, workdir=args.workdir, user=args.user, group_add=args.group_add,
        hostname=args.hostname, labels=_kv(args.label, "label"), annotations=_kv(args.annotation, "annotation"),
        networks=args.network, network_aliases=args.network_alias, ip=args.ip, mac_address=args.mac_address,
        publish=args.publish, publish_all=args.publish_all, expose=args.expose, dns=args.dns,
        dns_search=args.dns_search, dns_option=args.dns_option, add_hosts=args.add_host, no_hosts=args.no_hosts,
        userns=args.userns, uidmap=args.uidmap, gidmap=args.gidmap,
        interactive=args.interactive, tty=args.tty,
        detach=getattr(args, "detach", False), remove=args.rm, replace=args.replace, cidfile=args.cidfile,
        stop_signal=args.stop_signal, stop_timeout=stop_timeout, init=args.init, read_only=args.read_only,
        read_only_tmpfs=_bool(args.read_only_tmpfs, "--read-only-tmpfs"),
        tmpfs=args.tmpfs, volumes=args.volume, mounts=args.mount, volumes_from=args.volumes_from,
        image_volume=args.image_volume, ulimits=args.ulimit, cap_add=args.cap_add, cap_drop=args.cap_drop,
        privileged=args.privileged, security_opt=args.security_opt, memory=memory, cpus=cpus,
        pids_limit=pids, restart=args.restart, log_driver=args.log_driver, pull=args.pull,
        create_command=["berth", *sys.argv[1:]], sig_proxy=_bool(args.sig_proxy, "--sig-proxy"),
        sdnotify=args.sdnotify, healthcheck=_health(args),
    )


def _health(args: flagparse.Namespace) -> dict | None:
    if args.no_healthcheck or not args.health_cmd:
        return None
    from berth.engine.health import health_config

    try:
        retries = int(args.health_retries)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{args.health_retries}" for "--health-retries" flag') from None
    return health_config(args.health_cmd, args.health_interval, retries, args.health_start_period,
                         args.health_timeout, args.health_on_failure)

