"""berth version."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--format", default=None, help="Change the output format to JSON or a Go template")


def version_info() -> dict:
    import os
    import platform
    import time

    from berth import __version__

    built = int(os.stat(__file__).st_mtime)
    return {"Client": {"APIVersion": __version__, "Version": __version__, "GoVersion": f"python{platform.python_version()}",
                       "GitCommit": "", "BuiltTime": time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(built)),
                       "Built": built, "OsArch": f"linux/{_arch()}", "Os": "linux"}}


def _arch() -> str:
    from berth.image.importer import host_arch

    return host_arch()


def run(args: flagparse.Namespace) -> int:
    from berth.cli.output import print_json, template_each

    info = version_info()
    if args.format == "json":
        print_json(info)
        return 0
    if args.format:
        template_each([info], args.format)
        return 0
    c = info["Client"]
    print(f"Client:       berth\nVersion:      {c['Version']}\nAPI Version:  {c['APIVersion']}\n"
          f"Go Version:   {c['GoVersion']}\nBuilt:        {c['BuiltTime']}\nOS/Arch:      {c['OsArch']}")
    return 0
