"""Flags shared by the commands that talk to registries (pull, push, login, search, run --pull)."""

from __future__ import annotations

from berth.cli import flagparse


def tls_verify(value: str) -> bool:
    v = value.lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise flagparse.ArgumentTypeError(f'invalid argument "{value}" for "--tls-verify" flag: '
                                     f'strconv.ParseBool: parsing "{value}": invalid syntax')


def add_registry_flags(p: flagparse.ArgumentParser, creds: bool = True) -> None:
    p.add_argument("--tls-verify", type=tls_verify, nargs="?", const=True, default=None,
                   help="Require HTTPS and verify certificates when contacting registries")
    p.add_argument("--authfile", default=None, help="Path of the authentication file")
    p.add_argument("--cert-dir", default=None, help="Path to a directory containing TLS certificates and keys")
    if creds:
        p.add_argument("--creds", default=None, help="Use USERNAME[:PASSWORD] for accessing the registry")


def session_args(args: flagparse.Namespace) -> dict:
    from berth.image.credentials import parse_creds

    creds = parse_creds(args.creds) if getattr(args, "creds", None) is not None else None
    authfile = args.authfile
    if authfile:
        import os

        if not os.path.exists(authfile):
            from berth.errors import InvalidArgument

            raise InvalidArgument(f"credential file is not accessible: stat {authfile}: no such file or directory")
    return {"tls_verify": args.tls_verify, "authfile": authfile, "creds": creds, "cert_dir": args.cert_dir}
