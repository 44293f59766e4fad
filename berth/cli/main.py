"""The berth command line: global flags, a lazy command table, error → exit code mapping.

Only the module of the command being run is imported, and only its flags are declared (a full
tree of every command's flags cost ~60 ms with argparse).  Flags are parsed by cli/flagparse.py,
in pflag's manner, as Podman parses them.
"""

from __future__ import annotations

import os
import sys

from berth.cli.flagparse import SUPPRESS, ArgumentParser, Namespace
from berth.errors import BerthError, ContainerExit
from berth.flags import GLOBAL_VALUE_FLAGS

# name -> (module, summary).  Group commands ("container run") map onto the same modules.
COMMANDS: dict[str, tuple[str, str]] = {
    "attach": ("attach", "Attach to a running container"),
    "create": ("create", "Create but do not start a container"),
    "exec": ("exec", "Run a process in a running container"),
    "export": ("export", "Export container's filesystem contents as a tar archive"),
    "healthcheck": ("healthcheck", "Manage health checks on containers"),
    "history": ("history", "Show history of a specified image"),
    "images": ("images", "List images in local storage"),
    "import": ("import_", "Import a tarball to create a filesystem image"),
    "info": ("info", "Display berth system information"),
    "inspect": ("inspect", "Display the configuration of object denoted by ID"),
    "kill": ("kill", "Kill one or more running containers with a specific signal"),
    "load": ("load", "Load image(s) from a tar archive"),
    "login": ("login", "Log in to a container registry"),
    "logout": ("logout", "Log out of a container registry"),
    "logs": ("logs", "Fetch the logs of one or more containers"),
    "port": ("port", "List port mappings or a specific mapping for the container"),
    "ps": ("ps", "List containers"),
    "pull": ("pull", "Pull an image from a registry"),
    "push": ("push", "Push an image to a specified destination"),
    "rename": ("rename", "Rename an existing container"),
    "restart": ("restart", "Restart one or more containers"),
    "rm": ("rm", "Remove one or more containers"),
    "rmi": ("rmi", "Remove one or more images from local storage"),
    "run": ("run", "Run a command in a new container"),
    "save": ("save", "Save image(s) to an archive"),
    "search": ("search", "Search registry for image"),
    "start": ("start", "Start one or more containers"),
    "stop": ("stop", "Stop one or more containers"),
    "tag": ("tag", "Add an additional name to a local image"),
    "untag": ("untag", "Remove a name from a local image"),
    "unshare": ("unshare", "Run a command in a modified user namespace"),
    "update": ("update", "Update an existing container"),
    "version": ("version", "Display the berth version information"),
    "wait": ("wait", "Block on one or more containers"),
}
GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "container": {
        "attach": COMMANDS["attach"],
        "checkpoint": ("checkpoint", "Checkpoint one or more running containers"),
        "restore": ("restore", "Restore one or more containers from a checkpoint"),
        "migrate": ("migrate", "Move a running container to another berth store or host"),
        "cleanup": ("cleanup", "Clean up network and mountpoints of one or more containers"),
        "create": COMMANDS["create"], "exec": COMMANDS["exec"], "exists": ("exists", "Check if a container exists in local storage"),
        "inspect": ("inspect", "Display the configuration of a container"), "kill": COMMANDS["kill"],
        "list": COMMANDS["ps"], "ls": COMMANDS["ps"], "ps": COMMANDS["ps"], "logs": COMMANDS["logs"],
        "port": COMMANDS["port"], "prune": ("container_prune", "Remove all non running containers"),
        "export": COMMANDS["export"],
        "rename": COMMANDS["rename"], "restart": COMMANDS["restart"], "rm": COMMANDS["rm"], "run": COMMANDS["run"],
        "start": COMMANDS["start"], "stop": COMMANDS["stop"], "wait": COMMANDS["wait"],
        "update": COMMANDS["update"],
    },
    "image": {
        "exists": ("exists", "Check if an image exists in local storage"), "history": COMMANDS["history"],
        "import": COMMANDS["import"], "inspect": ("inspect", "Display the configuration of an image"),
        "list": COMMANDS["images"], "ls": COMMANDS["images"], "prune": ("image_prune", "Remove unused images"),
        "rm": COMMANDS["rmi"], "tag": COMMANDS["tag"], "untag": COMMANDS["untag"],
        "load": COMMANDS["load"], "pull": COMMANDS["pull"], "push": COMMANDS["push"],
        "save": COMMANDS["save"], "search": COMMANDS["search"],
    },
    "network": {v: ("network", f"network {v}") for v in
                ("create", "ls", "list", "inspect", "rm", "prune", "exists", "connect", "disconnect")},
    "generate": {
        "systemd": ("generate", "Generate systemd units"),
    },
    "volume": {v: ("volume", s) for v, s in (
        ("create", "Create a new volume"), ("ls", "List volumes"), ("list", "List volumes"),
        ("inspect", "Display detailed information on one or more volumes"),
        ("rm", "Remove one or more volumes"), ("remove", "Remove one or more volumes"),
        ("prune", "Remove all unused volumes"), ("exists", "Check if volume exists"),
        ("export", "Export volumes"), ("import", "Import a tarball contents into a volume"))},
    "quadlet": {
        "install": ("quadlet", "Install a quadlet file or quadlet application"),
        "list": ("quadlet", "List Quadlets"), "ls": ("quadlet", "List Quadlets"),
        "print": ("quadlet", "Display the contents of a quadlet"),
        "rm": ("quadlet", "Remove Quadlets"),
    },
    "system": {
        "info": COMMANDS["info"], "prune": ("system_prune", "Remove unused data"),
        "reset": ("system_reset", "Reset berth storage"),
    },
}


def add_global_flags(p: ArgumentParser, suppress: bool) -> None:
    d = SUPPRESS if suppress else None
    p.add_argument("--root", default=d, help="Path to the root directory in which data is stored")
    p.add_argument("--runroot", default=d, help="Path to the 'run directory' where state is stored")
    p.add_argument("--runtime", default=d, help="Path to the OCI runtime (runc, crun)")
    p.add_argument("--storage-driver", default=d, help="Storage driver: overlay or vfs")
    p.add_argument("--storage-opt", action="append", default=d,
                   help="Storage driver option: overlay.mount_program=PATH (fuse-overlayfs)")
    p.add_argument("--log-level", default=d if suppress else "warn",
                   choices=["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"])
    p.add_argument("--cgroup-manager", default=d if suppress else "cgroupfs", choices=["cgroupfs", "systemd"])
    p.add_argument("--events-backend", default=d if suppress else "file", choices=["file", "journald", "none"])
    p.add_argument("--tmpdir", default=d, help="Path to the tmp directory for libpod state content")


def _find_command(argv: list[str]) -> tuple[int, str | None]:
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return i + 1, argv[i + 1] if i + 1 < len(argv) else None
        if a in GLOBAL_VALUE_FLAGS:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return i, a
    return i, None


def _usage() -> str:
    lines = ["Usage: berth [options] COMMAND", "", "Manage containers without a daemon", "", "Commands:"]
    about = {"system": "Manage berth", "generate": "Generate structured data based on containers, pods or volumes",
             "quadlet": "Allows users to manage Quadlets"}
    for g in sorted(GROUPS):
        lines.append(f"  {g:<12}{about.get(g, f'Manage {g}s')}")
    for name, (_, summary) in sorted(COMMANDS.items()):
        lines.append(f"  {name:<12}{summary}")
    return "\n".join(lines) + "\n"


def _group_help(group: str) -> str:
    lines = [f"Manage {group}s", "", "Usage:", f"  berth {group} [command]", "", "Available Commands:"]
    lines += [f"  {n:<12}{summary}" for n, (_, summary) in sorted(GROUPS[group].items())]
    return "\n".join(lines) + "\n"


def parse_command_line(argv: list[str]) -> Namespace:
    """The global flags (before the command or among its own flags), then the command's flags and
    arguments.  Only the command's module is imported and only its flags are declared."""
    idx, name = _find_command(argv)
    top = ArgumentParser(prog="berth", usage="berth [options] COMMAND", add_help=False)
    add_global_flags(top, suppress=False)
    top.add_argument("-v", "--version", action="store_true", help="Version for berth")
    top.add_argument("-h", "--help", action="store_true", help="Help for berth")
    head = argv[:idx] if name is not None else argv
    if head and head[-1] == "--" and name is not None:
        head = head[:-1]
    ns = top.parse_args(head)
    if name is None or ns.help or ns.version:
        ns.command = ""
        return ns
    rest = argv[idx + 1:]
    if name in GROUPS:
        group = GROUPS[name]
        sub_idx, sub_name = _find_command(rest)
        if sub_name is None:
            sys.stdout.write(_group_help(name))
            sys.stderr.write(f"Error: missing command 'berth {name} COMMAND'\n")
            raise SystemExit(125)
        if sub_name not in group:
            sys.stderr.write(f"Error: unrecognized command `berth {name} {sub_name}`\n"
                             f"Try 'berth {name} --help' for more information\n")
            raise SystemExit(125)
        module, summary = group[sub_name]
        cmd_key = f"{name} {sub_name}"
        rest = rest[:sub_idx] + rest[sub_idx + 1:]
    elif name in COMMANDS:
        module, summary = COMMANDS[name]
        cmd_key = name
    else:
        sys.stderr.write(f"Error: unrecognized command `berth {name}`\nTry 'berth --help' for more information\n")
        raise SystemExit(125)
    leaf = ArgumentParser(prog=f"berth {cmd_key}", description=summary, add_help=False)
    add_global_flags(leaf, suppress=True)
    __import__(f"berth.cli.commands.{module}")  # not importlib: its package imports warnings
    mod = sys.modules[f"berth.cli.commands.{module}"]
    mod.add_arguments(leaf, cmd_key)
    # run/create use -h for --hostname, as Podman does; elsewhere -h is help
    leaf.add_argument(*(["--help"] if "-h" in leaf._option_string_actions else ["-h", "--help"]),
                      action="help", help="Help for this command")
    leaf.set_defaults(_handler=mod.run, _cmd=cmd_key)
    return leaf.parse_args(rest, ns)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_command_line(argv)
        handler = getattr(args, "_handler", None)
        if handler is None:
            if args.version:
                from berth import __version__

                print(f"berth version {__version__}")
                return 0
            sys.stdout.write(_usage())
            return 0
        rc = handler(args)
        return int(rc or 0)
    except ContainerExit as e:
        return e.code
    except BerthError as e:
        sys.stdout.flush()
        sys.stderr.write(f"Error: {e.message}\n")
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except OSError as e:
        # the host refused something berth needed (a --root that is a file, a full disk): one line,
        # in Go's words as Podman prints them, not a traceback
        sys.stdout.flush()
        where = f"{e.filename}: " if e.filename else ""
        sys.stderr.write(f"Error: {where}{(e.strerror or str(e)).lower()}\n")
        return 125


def entry() -> None:
    """The console script: main(), then leave without the interpreter's teardown (module GC and
    SQLite's closing WAL checkpoint, ~15 ms per command); every file berth writes is closed by
    then, and the WAL is as durable as the database."""
    rc = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(rc)


def engine(args: Namespace):
    """Build the engine Runtime from the global flags (imported lazily by commands)."""
    from berth.config import EngineOptions
    from berth.engine.runtime import Runtime

    opts = EngineOptions(root=args.root or "", runroot=args.runroot or "", runtime=args.runtime or "",
                         storage_driver=args.storage_driver or "", storage_opts=args.storage_opt or [],
                         log_level=args.log_level or "warn",
                         cgroup_manager=args.cgroup_manager or "cgroupfs",
                         events_backend=args.events_backend or "file", tmpdir=args.tmpdir or "")
    if opts.rootless:
        # paths were chosen as the user; from here on we are "root" in the user's namespace
        from berth.rootless.userns import ensure

        ensure(opts.runroot)
    return Runtime(opts)
