"""Time and size formatting the way Podman prints them (go-units, Go's time)."""

from __future__ import annotations

import time


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(ts: float, now: float | None = None) -> str:
    return human_duration((now or time.time()) - ts) + " ago"


def rfc3339(ts: float) -> str:
    """Go's RFC3339Nano in the local zone, trailing zeros of the fraction trimmed."""
    if not ts:
        return "0001-01-01T00:00:00Z"
    sec = int(ts)
    nanos = int(round((ts - sec) * 1e9))
    if nanos >= 1_000_000_000:
        sec, nanos = sec + 1, nanos - 1_000_000_000
    lt = time.localtime(sec)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", lt)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    off = lt.tm_gmtoff
    if off == 0:
        zone = "Z"
    else:
        sign = "+" if off > 0 else "-"
        off = abs(off)
        zone = f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
    return base + frac + zone


def go_time_string(ts: float) -> str:
    """Go's time.Time.String(): '2006-01-02 15:04:05.999999999 -0700 MST'."""
    sec = int(ts)
    nanos = int(round((ts - sec) * 1e9)) % 1_000_000_000
    lt = time.localtime(sec)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return time.strftime("%Y-%m-%d %H:%M:%S", lt) + frac + time.strftime(" %z %Z", lt)


def parse_time(value: str, now: float | None = None) -> float:
    """--since/--until: RFC3339 timestamps, Unix seconds, or Go durations relative to now."""
    from berth.errors import InvalidArgument

    now = now or time.time()
    v = value.strip()
    try:
        return float(v)
    except ValueError:
        pass
    try:
        return now - parse_duration(v)
    except InvalidArgument:
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    raise InvalidArgument(f'parsing time "{value}": invalid time format')


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """Go's time.ParseDuration: '1h30m', '10s', '1.5s'."""
    import re

    from berth.errors import InvalidArgument

    if value in ("0", ""):
        if value == "0":
            return 0.0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise InvalidArgument(f'time: invalid duration "{value}"')
    return sum(float(n) * _UNITS[u] for n, u in parts)


def human_size(n: float, precision: int = 3, sep: str = " ") -> str:
    """go-units HumanSizeWithPrecision(n, precision): decimal units; precision 3 with a space is
    what `podman images` prints, go-units HumanSize (4, no space) what `system prune` does."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.{precision}g}{sep}{units[i]}"


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3,
               "gb": 1024**3, "t": 1024**4, "tb": 1024**4}


def parse_bytes(value: str) -> int:
    """go-units RAMInBytes: '64m', '1g', '512' (binary units)."""
    import re

    from berth.errors import InvalidArgument

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise InvalidArgument(f"invalid size: '{value}'")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
