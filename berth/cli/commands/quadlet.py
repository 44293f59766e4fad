"""berth quadlet list|print|install|rm: manage Quadlet files (converted to units by the generator)."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError

HEADERS = {"Name": "NAME", "UnitName": "UNIT NAME", "Path": "PATH ON DISK", "Status": "STATUS",
           "App": "APPLICATION"}
DEFAULT_FORMAT = "table {{.Name}}\t{{.UnitName}}\t{{.Path}}\t{{.Status}}\t{{.App}}"


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes", ""):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise flagparse.ArgumentTypeError(f"invalid syntax: {value}")


def _reload_flag(p: flagparse.ArgumentParser, what: str) -> None:
    p.add_argument("--reload-systemd", nargs="?", const=True, default=True, type=_bool,
                   help=f"Reload systemd after {what}")


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    sub = cmd.split()[-1]
    if sub in ("list", "ls"):
        p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions given")
        p.add_argument("--format", default="", help="Pretty-print output to JSON or using a Go template")
    elif sub == "print":
        p.add_argument("quadlet", metavar="QUADLET")
    elif sub == "install":
        p.add_argument("--replace", action="store_true", help="Replace the installation even if the quadlet exists")
        _reload_flag(p, "installing Quadlets")
        p.add_argument("paths", nargs="+", metavar="QUADLET-PATH")
    elif sub == "rm":
        p.add_argument("-a", "--all", action="store_true", help="Remove all Quadlets for the current user")
        p.add_argument("-f", "--force", action="store_true", help="Remove running quadlets")
        p.add_argument("-i", "--ignore", action="store_true", help="Do not error for Quadlets that do not exist")
        _reload_flag(p, "removal")
        p.add_argument("quadlets", nargs="*", metavar="QUADLET")


def _report(errors: dict[str, str], fmt: str, summary: str) -> int:
    for what, msg in errors.items():
        sys.stderr.write("Error: " + fmt.format(what=what, msg=msg) + "\n")
    if errors:
        sys.stderr.write(f"Error: {summary}\n")
        return 125
    return 0


def run(args: flagparse.Namespace) -> int:
    from berth.config import is_rootless
    from berth.systemd import manage

    rootless = is_rootless()
    sub = args._cmd.split()[-1]
    if sub in ("list", "ls"):
        from berth.cli.output import print_json, print_rows

        entries = manage.list_quadlets(rootless, args.filter)
        if args.format.strip() == "json":
            print_json([e.to_dict() for e in entries])
        else:
            print_rows([e.to_dict() for e in entries], args.format or None, DEFAULT_FORMAT, HEADERS)
        return 0
    if sub == "print":
        sys.stdout.write(manage.print_quadlet(args.quadlet, rootless))
        return 0
    if sub == "install":
        installed, errors = manage.install(args.paths, rootless, replace=args.replace, reload=args.reload_systemd)
        for path in installed:
            print(path)
        return _report(errors, 'quadlet "{what}" failed to install: {msg}', "errors occurred installing some Quadlets")
    if not args.quadlets and not args.all:
        raise BerthError("at least one quadlet file must be selected")
    removed, errors = manage.remove(args.quadlets, rootless, force=args.force, all_=args.all, ignore=args.ignore,
                                    reload=args.reload_systemd)
    for name in removed:
        print(name)
    return _report(errors, "unable to remove Quadlet {what}: {msg}", "some quadlets could not be removed")
