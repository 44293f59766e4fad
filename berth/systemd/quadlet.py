"""The Quadlet systemd generator: .container/.volume/.network files -> .service units.

Run by systemd at boot and on daemon-reload as `python -m berth.systemd.quadlet OUTDIR [EARLY] [LATE]`
(contrib/systemd/berth-generator is the wrapper to install into system-generators/ and
user-generators/).  Flags as Podman's quadlet: -user (rootless search path), -dryrun (print the units
instead of writing them), -v, -no-kmsg-log, -version.  QUADLET_UNIT_DIRS overrides the search path.
Errors in one file are logged and the others are still generated; the exit code is 1 then.
"""

from __future__ import annotations

import os
import sys

from berth.systemd.paths import berth_binary, unit_dirs
from berth.systemd.quadlet_base import (
    EXTENSIONS,
    INSTALL,
    OTHER_EXTENSIONS,
    Context,
    ConvertError,
    unit_info,
)
from berth.systemd.unitfile import UnitFile, UnitFileError
from berth.util.record import field, record


@record
class Result:
    units: dict = field(default_factory=dict)       # service file name -> UnitFile
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def _ext(name: str) -> str:
    return os.path.splitext(name)[1]


def load_units(dirs: list[str]) -> tuple[list[UnitFile], list[str]]:
    """Every Quadlet file of the search path; a name found in an earlier directory hides later ones."""
    seen: set[str] = set()
    units: list[UnitFile] = []
    errors: list[str] = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            continue
        except OSError as e:
            errors.append(f'error reading directory "{d}": {e.strerror}')
            continue
        for name in names:
            if name in seen or (_ext(name) not in EXTENSIONS and _ext(name) not in OTHER_EXTENSIONS):
                continue
            path = os.path.join(d, name)
            if os.path.isdir(path):
                continue
            try:
                units.append(UnitFile.load(path))
                seen.add(name)
            except (OSError, UnicodeDecodeError, UnitFileError) as e:
                errors.append(f'error loading "{path}", {e}')
    return units, errors


def dropin_dirs(unit: UnitFile) -> list[str]:
    """Drop-in directory names for a unit, most specific first: foo-bar.container.d, foo-.container.d,
    container.d (and foo@.container.d for an instance foo@x.container)."""
    name, instance, is_template = unit.template_parts()
    ext = _ext(unit.filename)
    d_ext = ext + ".d"
    broad = [d_ext.lstrip(".")]
    parts = name.split("-")
    for i in range(len(parts) - 1):
        prefix = "-".join(parts[:i + 1]) + "-"
        broad.append(prefix + d_ext)
        if is_template:
            broad.append(prefix + "@" + d_ext)
    if instance:
        broad.append(name + "@" + d_ext)
    broad.append(unit.filename + ".d")
    return list(reversed(broad))


def load_dropins(unit: UnitFile, dirs: list[str]) -> list[str]:
    """Merge foo.container.d/*.conf (and broader drop-in dirs) into unit, in file name order."""
    errors: list[str] = []
    chosen: dict[str, str] = {}
    for sub in dropin_dirs(unit):
        for d in dirs:
            ddir = os.path.join(d, sub)
            try:
                names = os.listdir(ddir)
            except FileNotFoundError:
                continue
            except OSError as e:
                errors.append(f'error reading directory "{ddir}", {e.strerror}')
                continue
            for n in names:
                if n.endswith(".conf") and n not in chosen:
                    chosen[n] = os.path.join(ddir, n)
    for n in sorted(chosen):
        try:
            unit.merge(UnitFile.load(chosen[n]))
        except (OSError, UnicodeDecodeError, UnitFileError) as e:
            errors.append(f'error loading "{chosen[n]}", {e}')
    return errors


def _ambiguous(image: str) -> bool:
    if image.startswith("sha256:") or (len(image) == 64 and all(c in "0123456789abcdefABCDEF" for c in image)):
        return False
    domain, slash, _ = image.partition("/")
    return not slash or not (any(c in domain for c in ".:") or domain == "localhost")


def convert_units(units: list[UnitFile], binary: str, is_user: bool) -> Result:
    from berth.systemd.quadlet_container import convert_container
    from berth.systemd.quadlet_resources import convert_network, convert_volume

    res = Result()
    ctx = Context(binary=binary, is_user=is_user)
    for u in units:
        info = unit_info(u)
        if info is not None:
            ctx.units[u.filename] = info
    converters = {".container": convert_container, ".volume": convert_volume, ".network": convert_network}
    for u in sorted(units, key=lambda u: EXTENSIONS.get(_ext(u.filename), ("", "", 0))[2]):
        ext = _ext(u.filename)
        if ext not in converters:
            res.warnings.append(f'Unsupported file type "{u.filename}"')
            continue
        group = EXTENSIONS[ext][0]
        image = u.lookup(group, "Image") if ext != ".network" else None
        if image and not image.endswith((".image", ".build")) and _ambiguous(image):
            res.warnings.append(f"Warning: {u.filename} specifies the image \"{image}\" which not a fully qualified "
                                "image name. This is not ideal for performance and security reasons. See the "
                                "podman-pull manpage discussion of short-name-aliases.conf for details.")
        try:
            service = converters[ext](u, ctx)
        except (ConvertError, ValueError) as e:     # ValueError: an Exec=-style line that does not split
            res.errors.append(f"converting \"{u.filename}\": {e}")
            continue
        res.units[service.filename] = service
    res.warnings += ctx.warnings
    return res


def generate(dirs: list[str], *, binary: str, is_user: bool, program: str) -> Result:
    """Load, merge drop-ins and convert everything found in dirs; header comments added."""
    units, errors = load_units(dirs)
    for u in units:
        errors += load_dropins(u, dirs)
    res = convert_units(units, binary, is_user)
    res.errors[:0] = errors
    for service in res.units.values():
        service.prepend_comment("", "", f"Automatically generated by {program}", "")
    return res


def enable_links(service: UnitFile) -> list[str]:
    """The .wants/.requires/alias symlinks `systemctl enable` would make, relative to the output dir."""
    links = [os.path.normpath(a) for a in service.lookup_all_strv(INSTALL, "Alias")]
    filename = service.filename
    name, instance, is_template = service.template_parts()
    if is_template and not instance:
        default = service.lookup(INSTALL, "DefaultInstance")
        filename = f"{name}@{default}{_ext(service.filename)}" if default else ""
    if filename:
        for key, kind in (("WantedBy", "wants"), ("RequiredBy", "requires"), ("UpheldBy", "upholds")):
            for target in service.lookup_all_strv(INSTALL, key):
                if "/" not in target:
                    links.append(f"{target}.{kind}/{filename}")
    return links


def write_units(res: Result, outdir: str) -> list[str]:
    errors: list[str] = []
    os.makedirs(outdir, exist_ok=True)
    for fname, service in res.units.items():
        path = os.path.join(outdir, fname)
        try:
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write(service.to_string())
            os.replace(tmp, path)
        except OSError as e:
            errors.append(f"generating service file {path}: {e}")
            continue
        for rel in enable_links(service):
            link = os.path.join(outdir, rel)
            target = os.path.relpath(fname, os.path.dirname(rel) or ".")
            try:
                os.makedirs(os.path.dirname(link), exist_ok=True)
                if os.path.lexists(link):
                    os.unlink(link)
                os.symlink(target, link)
            except OSError as e:
                errors.append(f"Failed creating symlink {link}: {e}")
    return errors


class Logger:
    """Quadlet logs to /dev/kmsg (the only log a generator has at early boot), else stderr."""

    def __init__(self, kmsg: bool, debug: bool) -> None:
        self.kmsg = kmsg
        self.debug_on = debug

    def __call__(self, msg: str) -> None:
        line = f"quadlet-generator[{os.getpid()}]: {msg}"
        if self.kmsg:
            try:
                with open("/dev/kmsg", "w") as f:
                    f.write(line + "\n")
                return
            except OSError:
                self.kmsg = False
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self(msg)


def _parse_flags(argv: list[str]) -> tuple[dict[str, bool], list[str]]:
    """Go flag package rules: -flag or --flag, optional =true/=false, stop at the first argument."""
    flags = {"v": False, "no-kmsg-log": False, "user": False, "dryrun": False, "version": False}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--"):
        name, eq, val = argv[i].lstrip("-").partition("=")
        if name not in flags:
            raise SystemExit(f"flag provided but not defined: -{name}")
        flags[name] = val.lower() in ("1", "t", "true") if eq else True
        i += 1
    if i < len(argv) and argv[i] == "--":
        i += 1
    return flags, argv[i:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    flags, args = _parse_flags(argv)
    prog = sys.argv[0] if sys.argv and sys.argv[0] else "berth-quadlet"
    if prog.endswith(".py"):
        prog = "berth.systemd.quadlet"
    if flags["version"]:
        from berth import __version__

        print(__version__)
        return 0
    is_user = flags["user"] or "user" in os.path.basename(prog)
    dryrun = flags["dryrun"]
    log = Logger(kmsg=not (flags["no-kmsg-log"] or dryrun), debug=flags["v"] or dryrun)
    if not dryrun and not args:
        log("missing output directory argument")
        return 1
    outdir = "" if dryrun else args[0]
    if outdir:
        log.debug(f"Starting quadlet-generator, output to: {outdir}")
    dirs = unit_dirs(is_user)
    res = generate(dirs, binary=berth_binary(), is_user=is_user, program=prog)
    for w in res.warnings:
        log(w)
    if not res.units and not res.errors:
        log.debug(f"No files parsed from {dirs}")
    if dryrun:
        for fname, service in res.units.items():
            sys.stdout.write(f"---{fname}---\n{service.to_string()}\n")
    elif res.units:
        res.errors += write_units(res, outdir)
    for e in res.errors:
        log(e)
    return 1 if res.errors else 0


if __name__ == "__main__":
    sys.exit(main())
