"""berth wait."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("--condition", action="append", default=[], help="Condition to wait on")
    p.add_argument("-i", "--interval", default="250ms", help="Time interval to wait before polling for completion")
    p.add_argument("--ignore", action="store_true", help="Ignore if a container does not exist")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import lifecycle
    from berth.errors import InvalidArgument, NoSuchContainer

    rt = engine(args)
    conds = tuple(args.condition) or ("stopped",)
    for cnd in conds:
        if cnd not in ("configured", "created", "exited", "healthy", "initialized", "paused", "removing",
                       "running", "stopped", "stopping", "unhealthy"):
            raise InvalidArgument(f'unknown condition "{cnd}"')
    refs = list(args.containers)
    if not refs and not args.latest:
        raise InvalidArgument("you must provide at least one name or id")
    if args.latest:
        refs = [rt.latest().id]
    for r in refs:
        try:
            c = rt.lookup(r)
        except NoSuchContainer:
            code = rt.db.exit_code_of(r)
            if code is not None:
                print(code)
                continue
            if args.ignore:
                print(-1)
                continue
            raise
        if any(cnd in ("healthy", "unhealthy") for cnd in conds):
            print(_wait_health(rt, c, conds))
            continue
        print(lifecycle.wait(rt, c, conds))
    return 0


def _wait_health(rt, c, conds: tuple[str, ...]) -> int:
    import time

    from berth.errors import FailedPrecondition

    if not c.config.get("healthcheck"):
        raise FailedPrecondition(f"container {c.id} has no healthcheck")
    delay = 0.05
    while True:
        c = rt.reload(c)
        if (c.state.get("health") or {}).get("Status") in conds and c.status.is_alive():
            return c.state.get("exit_code", 0)
        if not c.status.is_alive() and "stopped" not in conds:
            return c.state.get("exit_code", 0)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
