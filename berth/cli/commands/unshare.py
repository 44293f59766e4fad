"""berth unshare [COMMAND]: a shell (or a command) inside berth's user namespace, as Podman offers."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("command", nargs=flagparse.REMAINDER, metavar="COMMAND")


def run(args: flagparse.Namespace) -> int:
    import os

    from berth.cli.main import engine
    from berth.errors import BerthError

    rt = engine(args)  # joins (or creates) the user and mount namespaces
    if not rt.rootless:
        raise BerthError("please use unshare with rootless")
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        cmd = [os.environ.get("SHELL") or "/bin/sh"]
    env = dict(os.environ, CONTAINERS_GRAPHROOT=rt.root, CONTAINERS_RUNROOT=rt.runroot, BERTH_UNSHARED="1")
    rt.db.close()
    try:
        os.execvpe(cmd[0], cmd, env)
    except OSError as e:
        from berth.errors import CommandNotFound

        raise CommandNotFound(f"{cmd[0]}: {e.strerror}") from None
