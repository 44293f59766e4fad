"""berth run: create, start, and (unless -d) attach and return the container's exit code."""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~0.5 ms at every start
import os
import sys

from berth.cli import flagparse
from berth.cli.commands._createflags import add_create_flags, to_options
from berth.errors import BerthError, ContainerExit

PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    add_create_flags(p, run=True)


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine.create import create_container
    from berth.engine.options import parse_detach_keys

    rt = engine(args)
    opts = to_options(args)
    keys = parse_detach_keys(getattr(args, "detach_keys", "ctrl-p,ctrl-q"))  # refused before anything is created
    c = create_container(rt, opts)
    return start_and_attach(rt, c, detach=opts.detach, interactive=opts.interactive, tty=opts.tty,
                            remove=opts.remove, sig_proxy=opts.sig_proxy, detach_keys=keys, print_id=True,
                            remove_on_failure=True)


def start_and_attach(rt, c, *, detach: bool, interactive: bool, tty: bool, remove: bool, sig_proxy: bool,
                     detach_keys: bytes, print_id: bool, remove_on_failure: bool = False) -> int:
    """detach_keys: as parse_detach_keys gives them.  remove_on_failure: a `run` whose container
    cannot start leaves nothing behind (it created it)."""
    from berth.engine import lifecycle

    if detach:
        try:
            lifecycle.start(rt, c)
        except BerthError:
            if remove or remove_on_failure:
                lifecycle.remove(rt, c, force=True, volumes=True)
            raise
        if print_id:
            print(c.id)
        return 0
    holder: dict = {}

    def connect(ctr) -> None:
        from berth.engine import attach  # imported while conmon and runc worked (lifecycle._warm_up)

        holder["sock"] = attach.connect(rt.bundle(ctr.id))

    lifecycle.mark_attached(rt, c.id)
    try:
        c = lifecycle.start(rt, c, before_start=connect)
    except BerthError:
        lifecycle.unmark_attached(rt, c.id)
        if "sock" in holder:
            holder["sock"].close()
        if remove or remove_on_failure:
            lifecycle.remove(rt, c, force=True, volumes=True)
        raise
    from berth.engine import attach

    sock = holder["sock"]
    term = None
    old = {}
    if tty and interactive and os.isatty(sys.stdin.fileno()):
        term = attach.Terminal(sys.stdin.fileno(), rt.bundle(c.id))
    elif sig_proxy and not tty:
        def forward(signum, _frame) -> None:
            try:
                rt.oci.kill(c.id, signum)
            except BerthError:
                pass

        for s in PROXIED:
            old[s] = signal.signal(s, forward)
    try:
        how = attach.stream(sock, stdin=interactive, tty=tty, detach_keys=detach_keys)
    finally:
        if term:
            term.restore()
        for s, h in old.items():
            signal.signal(s, h)
        sock.close()
    if how == "detached":
        lifecycle.unmark_attached(rt, c.id)  # from now on conmon's exit command cleans up
        if term:
            sys.stdout.write("\r\n")
        return 0
    lifecycle._wait_exit(rt, c, None)
    c = rt.reload(c)
    code = c.state.get("exit_code", 0)
    if remove:
        from berth.util import reaper

        reaper.enable()  # the removed container's files are deleted after we have answered
    lifecycle.cleanup(rt, c.id, remove_after=remove)
    # only once cleanup is done: if anything above raised, the marker stays and the exit command,
    # seeing this process gone, cleans up instead
    lifecycle.unmark_attached(rt, c.id)
    if remove:
        reaper.flush()
    raise ContainerExit(code)
