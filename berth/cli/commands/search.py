"""berth search [options] TERM: the repositories of a registry's catalog that match TERM."""

from __future__ import annotations

from berth.cli import flagparse
from berth.cli.commands._registryflags import add_registry_flags, session_args


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("--limit", type=int, default=0, help="Limit the number of results")
    p.add_argument("--format", default=None, help="Change the output format to JSON or a Go template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("--list-tags", action="store_true", help="List the tags of the input registry")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    add_registry_flags(p)
    p.add_argument("term", metavar="TERM")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.output import print_json, print_rows
    from berth.errors import InvalidArgument
    from berth.image.registry.errors import RegistryError
    from berth.image.session import Session

    sargs = session_args(args)
    session = Session(sargs["tls_verify"], sargs["authfile"], sargs["creds"], sargs["cert_dir"])
    first, slash, rest = args.term.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        hosts, term = [first], rest
    else:
        hosts, term = list(session.conf.search), args.term
        if not hosts:
            raise InvalidArgument(f'no registries to search for "{args.term}": no unqualified-search registries '
                                  f'are defined in "{session.conf.path}"')
    rows = []
    for host in hosts:
        client = session.client_for(host, None)
        if args.list_tags:
            repo = term.partition(":")[0]
            tags = client.tags(repo)
            rows += [{"Name": f"{host}/{repo}", "Tag": t} for t in tags]
            continue
        try:
            repos = client.catalog()
        except RegistryError as e:
            raise RegistryError(f"couldn't search registry \"{host}\": {e.message}") from None
        rows += [{"Index": host, "Name": f"{host}/{r}", "Description": "", "Stars": 0, "Official": "",
                  "Automated": ""} for r in repos if term.lower() in r.lower()]
    if args.limit > 0:
        rows = rows[: args.limit]
    if args.format == "json":
        print_json(rows)
        return 0
    default = "table {{.Name}}\t{{.Tag}}" if args.list_tags else "table {{.Name}}\t{{.Description}}"
    print_rows(rows, args.format, default, {"Name": "NAME", "Description": "DESCRIPTION", "Tag": "TAG",
                                             "Index": "INDEX", "Stars": "STARS", "Official": "OFFICIAL",
                                             "Automated": "AUTOMATED"})
    return 0
