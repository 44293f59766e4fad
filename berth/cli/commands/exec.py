"""berth exec [-i] [-t] [-d] [-e] [-u] [-w]."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import ContainerExit, FailedPrecondition, InvalidArgument


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Run the exec session in detached mode (backgrounded)")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="Read in a file of environment variables")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-u", "--user", default="", help="Sets the username or UID used")
    p.add_argument("-w", "--workdir", default="", help="Working directory inside the container")
    p.add_argument("--privileged", action="store_true", help="Give the process extended Linux capabilities")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=flagparse.REMAINDER, metavar="COMMAND")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine.envvars import _read_env_file
    from berth.engine.exec import exec_in
    from berth.engine.options import ExecOptions

    rt = engine(args)
    command = list(args.command)
    ref = args.container
    if args.latest:
        command = [ref] + command
        ref = rt.latest().id
    if command and command[0] == "--":
        command = command[1:]
    if not ref:
        raise InvalidArgument("exec requires the name or ID of a container or the --latest flag")
    env = []
    for f in args.env_file:
        env += _read_env_file(f)
    env += args.env
    c = rt.lookup(ref)
    # Podman (2.0 and later) exits 255, not 125, when the exec session itself cannot be made:
    # an empty command or a container that is not running.  Scripts test for 255.
    if not command:
        sys.stderr.write("Error: must provide a non-empty command to start an exec session: invalid argument\n")
        return 255
    try:
        code = exec_in(rt, c, ExecOptions(command=command, interactive=args.interactive, tty=args.tty,
                                          detach=args.detach, env=env, user=args.user, workdir=args.workdir,
                                          privileged=args.privileged))
    except FailedPrecondition as e:
        sys.stdout.flush()
        sys.stderr.write(f"Error: {e.message}\n")
        return 255
    if args.detach:
        print(c.id)
        return 0
    raise ContainerExit(code)
