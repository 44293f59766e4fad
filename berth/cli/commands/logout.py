"""berth logout [options] [REGISTRY]."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove the cached credentials for all registries")
    p.add_argument("--authfile", default=None, help="Path of the authentication file")
    p.add_argument("registry", nargs="?", metavar="REGISTRY")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.commands.login import registry_key
    from berth.errors import InvalidArgument
    from berth.image import credentials

    if args.all:
        credentials.remove_all(args.authfile)
        print("Removed login credentials for all registries")
        return 0
    key = registry_key(args.registry)
    if not credentials.remove(key, args.authfile):
        if credentials.username(key, args.authfile) is not None:
            raise InvalidArgument(f"not logged into {key}: credentials come from another file "
                                  "(e.g. ~/.docker/config.json) and were left in place")
        raise InvalidArgument(f"not logged into {key}")
    print(f"Removed login credentials for {key}")
    return 0
