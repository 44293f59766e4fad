"""berth volume create|ls|inspect|rm|prune|exists|export|import."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError, InvalidArgument

HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "CreatedAt": "CREATED AT",
           "Labels": "LABELS", "Scope": "SCOPE", "Options": "OPTIONS", "MountCount": "MOUNT COUNT"}
DEFAULT_FORMAT = "table {{.Driver}}\t{{.Name}}"


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    verb = {"list": "ls", "remove": "rm"}.get(cmd.split()[1], cmd.split()[1])
    p.set_defaults(_verb=verb)
    a = p.add_argument
    if verb == "create":
        a("-d", "--driver", default="local", help="Specify volume driver name")
        a("-o", "--opt", action="append", default=[], help="Set driver specific options")
        a("-l", "--label", action="append", default=[], help="Set metadata for a volume (e.g., --label mykey=value)")
        a("--ignore", action="store_true", help="Don't fail if volume already exists")
        a("name", nargs="?", default="", metavar="NAME")
    elif verb == "ls":
        a("--format", default=None, help="Format volume output using Go template")
        a("-f", "--filter", action="append", default=[], help="Filter volume output")
        a("-q", "--quiet", action="store_true", help="Print volume output in quiet mode")
        a("-n", "--noheading", action="store_true", help="Do not print headers")
    elif verb == "inspect":
        a("-f", "--format", default=None, help="Format volume output using JSON or a Go template")
        a("-a", "--all", action="store_true", help="Inspect all volumes")
        a("names", nargs="*", metavar="VOLUME")
    elif verb == "rm":
        a("-f", "--force", action="store_true", help="Remove a volume by force, even if it is being used by a container")
        a("-a", "--all", action="store_true", help="Remove all volumes")
        a("-t", "--time", default=None, help="Seconds to wait for running containers to stop before killing them")
        a("names", nargs="*", metavar="VOLUME")
    elif verb == "prune":
        a("-f", "--force", action="store_true", help="Do not prompt for confirmation")
        a("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<key>=<value>')")
    elif verb == "exists":
        a("name", metavar="VOLUME")
    elif verb == "export":
        a("-o", "--output", default="", help="Write to a specified file (default: stdout, which must be redirected)")
        a("name", metavar="VOLUME")
    elif verb == "import":
        a("name", metavar="VOLUME")
        a("source", metavar="SOURCE", help="a tar file, or - for standard input")


def _kv(items: list[str]) -> dict[str, str]:
    from berth.cli.output import split_kv

    return split_kv(items)


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine

    rt = engine(args)
    return _VERBS[args._verb](rt, args)


def _create(rt, args: flagparse.Namespace) -> int:
    from berth.engine import volumes

    vol, _ = volumes.create(rt, args.name, driver=args.driver, labels=_kv(args.label), options=_kv(args.opt),
                            ignore=args.ignore)
    print(vol.name)
    return 0


def _rows(rt, vols: list) -> list[dict]:
    """Template rows: the inspect document with its omitted zero fields back (a Go template sees every
    field of the struct), CreatedAt as Go prints a time.Time."""
    from berth.engine import volumes
    from berth.util.timefmt import go_time_string

    zero = {"UID": 0, "GID": 0, "Anonymous": False, "NeedsCopyUp": False, "NeedsChown": False, "Timeout": 0,
            "StorageID": "", "Status": {}}
    return [zero | volumes.inspect_doc(rt, v) | {"CreatedAt": go_time_string(v.created)} for v in vols]


def _ls(rt, args: flagparse.Namespace) -> int:
    from berth.cli.output import print_json, print_rows
    from berth.engine import volumes

    groups = volumes.parse_filters(args.filter)
    used = volumes.names_in_use(rt) if "dangling" in groups else None
    vols = [v for v in volumes.list_all(rt) if volumes.matches(rt, v, groups, used)]
    vols.sort(key=lambda v: v.name)
    if args.quiet and not args.format:
        sys.stdout.write("".join(v.name + "\n" for v in vols))
    elif args.format == "json":
        print_json([volumes.inspect_doc(rt, v) for v in vols])
    else:
        print_rows(_rows(rt, vols), args.format, DEFAULT_FORMAT, HEADERS, noheading=args.noheading)
    return 0


def _inspect(rt, args: flagparse.Namespace) -> int:
    from berth.cli.output import print_json, template_each
    from berth.engine import volumes

    if args.all:
        found, missing = volumes.list_all(rt), []
    else:
        if not args.names:
            raise InvalidArgument("provide one or more volume names or use --all")
        found, missing = [], []
        for n in args.names:
            try:
                found.append(volumes.get(rt, n))
            except volumes.NoSuchVolume:
                missing.append(n)
    if args.format and args.format != "json":
        template_each(_rows(rt, found), args.format)
    else:
        print_json([volumes.inspect_doc(rt, v) for v in found])
    if missing:
        for n in missing[:-1]:
            sys.stderr.write(f"Error: no such volume {n}\n")
        raise InvalidArgument(f"no such volume {missing[-1]}")
    return 0


def _rm(rt, args: flagparse.Namespace) -> int:
    """Podman's exit codes: 1 when a named volume does not exist, 2 when one is in use, else 125."""
    from berth.engine import volumes

    if args.all == bool(args.names):
        raise InvalidArgument("choose either one or more volumes or all" if args.all
                              else "must specify at least one volume name or --all")
    timeout = None
    if args.time is not None:
        try:
            timeout = int(args.time)
        except ValueError:
            raise InvalidArgument(f'invalid argument "{args.time}" for "-t, --time" flag: strconv.ParseUint: '
                                  f'parsing "{args.time}": invalid syntax') from None
    names = [v.name for v in volumes.list_all(rt)] if args.all else args.names
    codes: set[int] = set()
    for n in names:
        try:
            volumes.remove(rt, n, force=args.force, timeout=timeout if timeout is None or timeout >= 0 else None)
            print(n)
        except volumes.NoSuchVolume as e:
            if not args.force:
                sys.stderr.write(f"Error: {e.message}\n")
                codes.add(1)
        except BerthError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            codes.add(e.exit_code)
    for code in (125, 2, 1):
        if code in codes:
            return code
    return 0


def _prune(rt, args: flagparse.Namespace) -> int:
    from berth.engine import volumes

    if not args.force:
        groups = volumes.parse_filters(args.filter)
        used = volumes.names_in_use(rt)
        doomed = [v.name for v in volumes.list_all(rt) if v.name not in used and volumes.matches(rt, v, groups, used)]
        if not doomed:
            return 0
        sys.stdout.write("WARNING! This will remove all volumes not used by at least one container. The following "
                         "volumes will be removed:\n" + "".join(n + "\n" for n in doomed) +
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    for name in volumes.prune(rt, args.filter):
        print(name)
    return 0


def _exists(rt, args: flagparse.Namespace) -> int:
    from berth.engine import volumes

    return 0 if volumes.exists(rt, args.name) else 1


def _export(rt, args: flagparse.Namespace) -> int:
    from berth.engine import volumes

    if args.output:
        with open(args.output, "wb") as f:
            volumes.export(rt, args.name, f)
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("cannot write to terminal, use command-line redirection or the --output flag")
    sys.stdout.flush()
    volumes.export(rt, args.name, sys.stdout.buffer)
    return 0


def _import(rt, args: flagparse.Namespace) -> int:
    from berth.engine import volumes

    if args.source == "-":
        volumes.import_(rt, args.name, sys.stdin.buffer)
        return 0
    try:
        f = open(args.source, "rb")  # noqa: SIM115 - closed below; opened first: Podman checks the file first
    except OSError as e:
        raise InvalidArgument(f"open {args.source}: {(e.strerror or str(e)).lower()}") from None
    with f:
        volumes.import_(rt, args.name, f)
    return 0


_VERBS = {"create": _create, "ls": _ls, "inspect": _inspect, "rm": _rm, "prune": _prune, "exists": _exists,
          "export": _export, "import": _import}
