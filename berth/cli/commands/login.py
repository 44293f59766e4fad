"""berth login [options] [REGISTRY]."""

from __future__ import annotations

from berth.cli import flagparse
from berth.cli.commands._registryflags import add_registry_flags


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-u", "--username", default="", help="Username for registry")
    p.add_argument("-p", "--password", default=None, help="Password for registry")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("--get-login", action="store_true", help="Return the current login user for the registry")
    p.add_argument("-v", "--verbose", action="store_true", help="Write more detailed information to stdout")
    add_registry_flags(p, creds=False)
    p.add_argument("registry", nargs="?", metavar="REGISTRY")


def registry_key(value: str | None) -> str:
    from berth.errors import InvalidArgument

    if not value:
        from berth.image import registries_conf

        search = registries_conf.load().search
        if not search:
            raise InvalidArgument("please provide a registry to log in to")
        value = search[0]
    key = value.removeprefix("https://").removeprefix("http://").removeprefix("docker://").rstrip("/")
    if not key:
        raise InvalidArgument("please provide a registry to log in to")
    return "docker.io" if key in ("index.docker.io", "registry-1.docker.io") else key


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.errors import InvalidArgument
    from berth.image import credentials
    from berth.image.registry.errors import AuthError, RegistryError
    from berth.image.session import Session

    key = registry_key(args.registry)
    if args.get_login:
        user = credentials.username(key, args.authfile)
        if user is None:
            raise InvalidArgument(f"not logged into {key}")
        print(user)
        return 0
    if args.password_stdin:
        if args.password is not None:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not args.username:
            raise InvalidArgument("must provide --username with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = args.password
    user = args.username
    if not user:
        old = credentials.username(key, args.authfile)
        if not sys.stdin.isatty():
            raise InvalidArgument("must provide --username when stdin is not a terminal")
        user = input(f"Username{f' ({old})' if old else ''}: ").strip() or (old or "")
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    if not user or not password:
        raise InvalidArgument("username and password must not be empty" if not user else "password required")
    host = key.split("/", 1)[0]
    session = Session(args.tls_verify, args.authfile, (user, password), args.cert_dir)
    try:
        session.client_for(host, None).check_login()
    except AuthError:
        raise AuthError(f'logging into "{key}": invalid username/password') from None
    except RegistryError as e:
        raise RegistryError(f'authenticating creds for "{key}": {e.message}') from None
    credentials.store(key, user, password, args.authfile)
    print("Login Succeeded!")
    return 0
