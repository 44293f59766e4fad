"""berth logs [-f] [--tail] [--since] [--until] [-t]: read conmon's k8s-file log."""

from __future__ import annotations

import os
import sys
import time

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--tail", default="-1", help="Output the specified number of LINES at the end of the logs")
    p.add_argument("--since", default="", help="Show logs since TIMESTAMP")
    p.add_argument("--until", default="", help="Show logs until TIMESTAMP")
    p.add_argument("-t", "--timestamps", action="store_true", help="Output the timestamps in the log")
    p.add_argument("-n", "--names", action="store_true", help="Output the container name in the log")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def _ts(stamp: str) -> float:
    from datetime import datetime

    head, digits, zone = _split_stamp(stamp)
    dt = datetime.fromisoformat(f"{head}{zone.replace('Z', '+00:00')}")
    return dt.timestamp() + (float("0." + digits) if digits else 0.0)


def _split_stamp(stamp: str) -> tuple[str, str, str]:
    """conmon's '2006-01-02T15:04:05.123456789+00:00' -> (date-time, fraction digits, zone)."""
    head, _, frac = stamp.partition(".")
    if not frac:
        head, zone = head[:19], head[19:]
        return head, "", zone or "+00:00"
    n = len(frac) - len(frac.lstrip("0123456789"))
    return head, frac[:n], frac[n:] or "+00:00"


def go_stamp(stamp: str) -> str:
    """The stamp as Podman prints it for --timestamps: Go's RFC3339Nano (trailing zeros cut, Z for UTC)."""
    head, digits, zone = _split_stamp(stamp)
    digits = digits.rstrip("0")
    zone = "Z" if zone in ("Z", "+00:00", "-00:00") else zone
    return f"{head}.{digits}{zone}" if digits else f"{head}{zone}"


def _parse_until(value: str) -> float:
    """Podman's ParseInputTime(until, since=false): a duration counts forward from now."""
    from berth.errors import InvalidArgument
    from berth.util.timefmt import parse_duration, parse_time

    try:
        return time.time() + parse_duration(value.strip())
    except InvalidArgument:
        return parse_time(value)


def parse_line(line: str) -> tuple[str, str, str, str] | None:
    parts = line.split(" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0], parts[1], parts[2]
    msg = parts[3] if len(parts) > 3 else ""
    return stamp, stream, tag, msg


def emit(entries: list[tuple[str, str, str, str]], args, prefix: str, out, err) -> None:
    for stamp, stream, tag, msg in entries:
        text = msg + ("\n" if tag == "F" else "")
        if args.timestamps:
            text = f"{go_stamp(stamp)} {text}"
        if prefix:
            text = f"{prefix} {text}"
        (err if stream == "stderr" else out).write(text)
    out.flush()
    err.flush()


def read_entries(path: str, offset: int) -> tuple[list, int]:
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind("\n")
    if end < 0:
        return [], offset
    chunk = data[: end + 1]
    entries = [e for e in (parse_line(ln) for ln in chunk.split("\n") if ln) if e]
    return entries, offset + len(chunk.encode())


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.errors import InvalidArgument
    from berth.util.timefmt import parse_time

    rt = engine(args)
    refs = list(args.containers)
    if args.latest:
        refs = [rt.latest().id]
    if not refs:
        raise InvalidArgument("you must provide at least one name or id")
    try:
        tail = int(args.tail)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{args.tail}" for "--tail" flag') from None
    since = parse_time(args.since) if args.since else None
    until = _parse_until(args.until) if args.until else None
    ctrs = [rt.lookup(r) for r in refs]
    out, err = sys.stdout, sys.stderr
    for c in ctrs:
        if c.config.get("log_driver") == "none":
            raise InvalidArgument("this container is using the 'none' log driver, cannot read logs: this container is not using a log driver that supports reading logs")
        path = os.path.join(rt.bundle(c.id), "ctr.log")
        prefix = c.short_id if args.names and len(ctrs) > 1 else ""
        entries, offset = read_entries(path, 0)
        if since is not None or until is not None:
            entries = [e for e in entries if (since is None or _ts(e[0]) >= since) and
                       (until is None or _ts(e[0]) <= until)]
        if tail >= 0:
            # tail counts lines, where a partial chunk belongs to the line its F ends
            idx = len(entries)
            lines = 0
            while idx > 0 and lines < tail:
                idx -= 1
                if entries[idx][2] == "F":
                    j = idx
                    while j > 0 and entries[j - 1][2] == "P":
                        j -= 1
                    idx = j
                    lines += 1
            entries = entries[idx:] if tail > 0 else []
        emit(entries, args, prefix, out, err)
        if args.follow:
            delay = 0.05
            while True:
                new, offset = read_entries(path, offset)
                if new:
                    if until is not None:
                        new = [e for e in new if _ts(e[0]) <= until]
                    emit(new, args, prefix, out, err)
                c = rt.reload(c)
                if not c.status.is_alive():
                    new, offset = read_entries(path, offset)
                    emit(new, args, prefix, out, err)
                    break
                if until is not None and time.time() > until:
                    break
                time.sleep(delay)
    return 0
