"""berth generate systemd: systemd units for containers (Podman's `generate systemd`)."""

from __future__ import annotations

import json
import os

from berth.cli import flagparse
from berth.errors import InvalidArgument, NoSuchContainer


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    a = p.add_argument
    a("-n", "--name", action="store_true", help="Use container/pod names instead of IDs")
    a("-f", "--files", action="store_true", help="Generate .service files instead of printing to stdout")
    a("--new", action="store_true", help="Create a new container or pod instead of starting an existing one")
    a("--template", action="store_true",
      help="Make it a template file and use %%i and %%I specifiers. Working only for containers")
    a("--no-header", action="store_true", help="Skip header generation")
    a("--start-timeout", default=None, help="Start timeout override")
    a("--stop-timeout", default=None, help="Stop timeout override")
    a("-t", "--time", default=None, help=flagparse.SUPPRESS)
    a("--restart-policy", default=None, help="Systemd restart-policy")
    a("--restart-sec", default=None, help="Systemd restart-sec")
    a("--container-prefix", default="container", help="Systemd unit name prefix for containers")
    a("--pod-prefix", default="pod", help="Systemd unit name prefix for pods")
    a("--separator", default="-", help="Systemd unit name separator between name/id and prefix")
    a("--wants", action="append", default=[], help="Add (weak) requirement dependencies to the generated unit file")
    a("--after", action="append", default=[], help="Add dependencies order to the generated unit file")
    a("--requires", action="append", default=[],
      help="Similar to wants, but declares stronger requirement dependencies")
    a("-e", "--env", action="append", default=[], help="Set environment variables to the systemd unit files")
    a("--format", default="", help="Print the created units in specified format (json)")
    a("container", metavar="CONTAINER|POD")


def _uint(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidArgument(f'invalid argument "{value}" for "--{flag}" flag: strconv.ParseUint: '
                              f'parsing "{value}": invalid syntax')
    return int(value)


def run_bool_flags() -> frozenset[str]:
    """Options of `berth run` that take no value: what --new needs to find IMAGE in a create command."""
    from berth.cli.commands._createflags import add_create_flags

    p = flagparse.ArgumentParser(add_help=False)
    add_create_flags(p, run=True)
    return frozenset(s for act in p._actions if act.nargs == 0 for s in act.option_strings)


def store_args(args: flagparse.Namespace, rt) -> list[str]:
    """Global flags a unit must pass so that it drives the same store as this command."""
    from berth.config import default_root, default_runroot

    out: list[str] = []
    if rt.root != os.path.abspath(default_root()):
        out += ["--root", rt.root]
    if rt.runroot != os.path.abspath(default_runroot()):
        out += ["--runroot", rt.runroot]
    if rt.opts.runtime:
        out += ["--runtime", rt.opts.runtime]
    if rt.opts.storage_driver:
        out += ["--storage-driver", rt.opts.storage_driver]
    for o in rt.opts.storage_opts:
        out += ["--storage-opt", o]
    if rt.opts.tmpdir != os.path.join(rt.runroot, "tmp"):
        out += ["--tmpdir", rt.opts.tmpdir]
    if rt.opts.cgroup_manager != "cgroupfs":
        out += ["--cgroup-manager", rt.opts.cgroup_manager]
    if rt.opts.events_backend != "file":
        out += ["--events-backend", rt.opts.events_backend]
    return out


def run(args: flagparse.Namespace) -> int:
    from berth import __version__
    from berth.cli.main import engine
    from berth.config import default_runroot
    from berth.systemd.generate import ContainerFacts, GenerateError, GenerateOptions, container_unit
    from berth.systemd.paths import berth_binary

    fmt = args.format.strip()
    if fmt not in ("", "json", "{{json .}}"):
        raise InvalidArgument(f"unknown --format argument: {args.format}")
    if args.stop_timeout is not None and args.time is not None:
        raise InvalidArgument("stop-timeout and time are redundant and cannot be used together")
    stop_timeout = _uint(args.stop_timeout, "stop-timeout")
    if stop_timeout is None:
        stop_timeout = _uint(args.time, "time")
    rt = engine(args)
    try:
        c = rt.lookup(args.container)
    except NoSuchContainer:
        raise NoSuchContainer(f"{args.container} does not refer to a container or pod: no such pod: "
                              "no such container") from None
    opts = GenerateOptions(
        name=args.name, new=args.new or args.template, template=args.template, no_header=args.no_header,
        restart_policy=args.restart_policy, restart_sec=_uint(args.restart_sec, "restart-sec"),
        start_timeout=_uint(args.start_timeout, "start-timeout"), stop_timeout=stop_timeout,
        container_prefix=args.container_prefix, separator=args.separator, wants=args.wants, after=args.after,
        requires=args.requires, env=args.env, executable=berth_binary(), global_args=store_args(args, rt),
        runroot=rt.runroot,
        new_runroot="%t/berth" if rt.runroot == os.path.abspath(default_runroot()) else rt.runroot,
        version=__version__, bool_flags=run_bool_flags() if args.new or args.template else frozenset())
    cfg = c.config
    facts = ContainerFacts(
        id=c.id, name=c.name, create_command=list(cfg.get("create_command") or []), env=list(cfg.get("env") or []),
        stop_timeout=int(cfg.get("stop_timeout", 10)), restart_policy=cfg.get("restart_policy") or "",
        conmon_pidfile=os.path.join(rt.rundir(c.id), "conmon.pid"))
    try:
        name, content = container_unit(facts, opts)
    except GenerateError as e:
        raise InvalidArgument(str(e)) from None
    units = {name: content}
    if args.files:
        for n, text in list(units.items()):
            path = os.path.join(os.getcwd(), f"{n}.service")
            with open(path, "w") as f:
                f.write(text)
            units[n] = path + ("\n" if not fmt else "")
    if fmt:
        # Go's json.MarshalIndent(units, "", " "): one-blank indent, <>& escaped
        text = json.dumps(units, indent=1, ensure_ascii=False)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        print(text)
    else:
        print("".join(units.values()), end="")
    return 0
