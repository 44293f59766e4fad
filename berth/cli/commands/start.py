"""berth start [-a] [-i]."""

from __future__ import annotations

from berth.cli import flagparse
from berth.errors import BerthError


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="Attach container's STDOUT and STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="Make STDIN available to the contained process")
    p.add_argument("--all", action="store_true", help="Start all containers regardless of their state or configuration")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Select the key sequence for detaching a container")
    p.add_argument("--sig-proxy", default=None, help="Proxy received signals to the process")
    p.add_argument("--filter", action="append", default=[], help="Filter output based on conditions given")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.commands.run import start_and_attach
    from berth.cli.main import engine
    from berth.engine import lifecycle
    from berth.engine.options import parse_detach_keys

    rt = engine(args)
    if args.all:
        from berth.cli.commands.ps import apply_filters

        targets = apply_filters(rt, rt.containers(), args.filter)
        targets = [c for c in targets if not c.status.is_alive()]
    else:
        if not args.containers:
            raise BerthError("start requires at least one argument")
        targets = [rt.lookup(r) for r in args.containers]
        if args.attach and len(targets) > 1:
            raise BerthError("you cannot start and attach multiple containers at once")
    if args.attach:
        c = targets[0]
        if c.status.is_alive():
            raise BerthError(f"container {c.id} is already running")
        try:
            return start_and_attach(rt, c, detach=False,
                                    interactive=args.interactive or c.config.get("interactive", False)
                                    and args.interactive, tty=c.config.get("tty", False),
                                    remove=c.config.get("auto_remove", False),
                                    sig_proxy=args.sig_proxy != "false",
                                    detach_keys=parse_detach_keys(args.detach_keys),
                                    print_id=False)
        except BerthError as e:  # Podman: 125, not run's 126/127, whatever kept the container from starting
            raise BerthError(f"unable to start container {c.id}: {e.message}") from None
    rc = 0
    refs = args.containers if not args.all else [c.id for c in targets]
    for ref, c in zip(refs, targets, strict=True):
        try:
            was_running = c.status.is_alive()
            lifecycle.start(rt, c)
            if not was_running:  # Podman prints nothing for a container that was already running
                print(ref)
        except BerthError as e:
            import sys

            sys.stderr.write(f'Error: unable to start container "{c.id}": {e.message}\n')
            rc = 125
    return rc
