"""Parsing of -v/--volume, --mount, --volumes-from and `volume create -o` (Podman's rules and wording).

Pure functions: nothing here touches the store.  The rules follow containers/common's
ValidateVolumeOpts, Podman's specgen GenVolumeMounts/parseMountOptions and util.ProcessOptions,
because scripts written for Podman grep for its messages.
"""

from __future__ import annotations

import csv
import os
import posixpath

from berth.errors import InvalidArgument
from berth.util.ids import valid_name
from berth.util.record import field, record

NAME_ERROR = "running volume create option: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"
VOLUME_FORMAT = "incorrect volume format, should be [host-dir:]ctr-dir[:option]"
MOUNT_FORMAT = ("incorrect mount format: should be --mount type=<bind|glob|tmpfs|volume>,"
                "[src=<host-dir|volume-name>,]target=<ctr-dir>[,options]")
OPTION_ARG = "must provide an argument for option"
BAD_OPTION = "invalid mount option"
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable")
# options berth (not the kernel) acts on: never handed to the OCI runtime
ENGINE_ONLY = ("U", "z", "Z", "copy", "nocopy", "O", "no-dereference")
# `volume create -o` keys the local driver accepts (Podman's newVolume)
LOCAL_KEYS = ("device", "o", "type", "uid", "gid", "size", "inodes", "noquota", "copy", "nocopy")


@record
class MountSpec:
    """One requested mount.  type: bind (source = host path), volume (source = volume name, "" for
    an anonymous volume) or tmpfs.  options: as given, validated."""

    type: str
    destination: str
    source: str = ""
    options: list[str] = field(default_factory=list)
    volume_options: dict[str, str] = field(default_factory=dict)  # --mount volume-opt=k=v (new volumes)
    given: list[str] = field(default_factory=list)  # the options as the user gave them (before defaults)


def valid_volume_name(name: str) -> bool:
    return valid_name(name)


def validate_ctr_dir(dest: str) -> None:
    if not dest:
        raise InvalidArgument("container directory cannot be empty")
    if not dest.startswith("/"):
        raise InvalidArgument(f'invalid container path "{dest}", must be an absolute path')


def clean(path: str) -> str:
    """Go's path.Clean: normpath, but a leading "//" is one "/"."""
    p = posixpath.normpath(path)
    return "/" + p.lstrip("/") if p.startswith("//") else p


def validate_volume_opts(options: list[str]) -> list[str]:
    """containers/common parse.ValidateVolumeOpts: one of each kind; cached/delegated dropped."""
    groups = {
        ("noexec", "exec"): "'noexec' or 'exec'", ("nodev", "dev"): "'nodev' or 'dev'",
        ("nosuid", "suid"): "'nosuid' or 'suid'", ("rw", "ro"): "'rw' or 'ro'",
        ("z", "Z", "O"): "'z', 'Z', or 'O'", ("U",): "'U'",
        PROPAGATIONS: "'[r]shared', '[r]private', '[r]slave' or '[r]unbindable'",
        ("bind", "rbind"): "'[r]bind'", ("copy", "nocopy"): "'copy' or 'nocopy'",
        ("no-dereference",): "'no-dereference'",
    }
    seen: dict[tuple[str, ...], int] = {}
    out = []
    for opt in options:
        if opt.startswith("idmap") or "upperdir" in opt or "workdir" in opt:
            out.append(opt)
            continue
        if opt in ("cached", "delegated"):
            continue  # macOS-only Docker options: meaningless on Linux, silently dropped as Docker does
        group = next((g for g in groups if opt in g), None)
        if group is None:
            raise InvalidArgument(f'invalid option type "{opt}"')
        seen[group] = seen.get(group, 0) + 1
        if seen[group] > 1:
            what = groups[group]
            raise InvalidArgument(f'invalid options "{", ".join(options)}", can only specify 1 {what} option')
        out.append(opt)
    return out


def parse_volume_flag(value: str) -> MountSpec:
    """-v [SRC:]DEST[:OPTS]: SRC starting with / or . is a host path, anything else a volume name;
    no SRC at all is an anonymous volume."""
    parts = value.split(":")
    if len(parts) > 3:
        raise InvalidArgument(f"{value}: {VOLUME_FORMAT}")
    src = parts[0]
    if len(parts) == 1:
        src, dest = "", parts[0]
    else:
        dest = parts[1]
        if not src:
            raise InvalidArgument("host directory cannot be empty")
    options = validate_volume_opts(parts[2].split(",")) if len(parts) > 2 else []
    validate_ctr_dir(dest)
    dest = clean(dest)
    if src.startswith(("/", ".")):
        if "O" in options:
            raise InvalidArgument("overlay volumes (:O) are not supported by berth")
        return MountSpec("bind", dest, os.path.abspath(os.path.realpath(src) if src.startswith("./") else src),
                         options)
    return MountSpec("volume", dest, src, options)


def _bool_value(name: str, value: str, has_value: bool) -> bool:
    if not has_value or value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise InvalidArgument(f"'{name}' must be set to true or false, instead received \"{value}\": {OPTION_ARG}")


def parse_mount_flag(value: str) -> MountSpec:
    """--mount type=bind|volume|tmpfs,src=...,dst=...,OPTS (CSV, as Docker and Podman read it)."""
    try:
        rows = list(csv.reader([value]))
    except csv.Error as e:
        raise InvalidArgument(str(e)) from None
    if len(rows) != 1:
        raise InvalidArgument(MOUNT_FORMAT)
    mtype, tokens, found = "volume", [], False
    for tok in rows[0]:
        kv = tok.split("=")
        if found or len(kv) != 2 or kv[0] != "type":
            tokens.append(tok)
            continue
        mtype, found = kv[1], True
    if mtype in ("glob", "image", "devpts", "ramfs", "artifact"):
        raise InvalidArgument(f'mount type "{mtype}" is not supported by berth')
    if mtype not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f'invalid filesystem type "{mtype}"')
    spec = _mount_options(mtype, tokens)
    if mtype == "bind":
        spec.source = os.path.abspath(spec.source or spec.destination)
        spec.options = validate_volume_opts(spec.options)
    return spec


def _mount_options(mtype: str, tokens: list[str]) -> MountSpec:
    """Podman's parseMountOptions, for the three mount types berth supports."""
    spec = MountSpec(mtype, "")
    once: set[str] = set()

    def only_once(key: str, what: str) -> None:
        if key in once:
            raise InvalidArgument(f"cannot pass {what} more than once: {OPTION_ARG}")
        once.add(key)

    def not_for(*types: str) -> None:
        if mtype in types:
            raise InvalidArgument(f'"{name}" option not supported for "{mtype}" mount types')

    for tok in tokens:
        name, has_value, value = tok.partition("=")
        if name in ("bind-nonrecursive", "bind-propagation"):
            not_for("volume", "tmpfs")
            if name == "bind-nonrecursive":
                spec.options.append("bind")
                continue
            if not has_value:
                raise InvalidArgument(f"{name}: {OPTION_ARG}")
            if value not in PROPAGATIONS:
                raise InvalidArgument(f'invalid value "{tok}"')
            spec.options.append(value)
        elif name == "consistency":
            continue  # a macOS option Docker ignores; so does Podman
        elif name in ("readonly", "ro", "rw"):
            only_once("rorw", "'readonly', 'ro', or 'rw' mnt.Options")
            flag = "ro" if name == "readonly" else name
            if has_value and value.lower() not in ("true", "false"):
                raise InvalidArgument(f"{name}: {BAD_OPTION}")
            if not has_value or value.lower() == "true":
                spec.options.append(flag)
            elif flag == "rw":
                spec.options.append("ro")
        elif name in ("nodev", "dev", "noexec", "exec", "nosuid", "suid"):
            base = name.removeprefix("no")
            only_once(base, f"'no{base}' and '{base}' mnt.Options")
            spec.options.append(name)
        elif name == "relabel":
            only_once("relabel", "'relabel' option")
            if value not in ("private", "shared"):
                raise InvalidArgument(f"{name} mount option must be 'private' or 'shared': {BAD_OPTION}")
            spec.options.append("Z" if value == "private" else "z")
        elif name in PROPAGATIONS or name in ("Z", "z", "no-dereference"):
            spec.options.append(name)
        elif name in ("src", "source"):
            not_for("tmpfs")
            if spec.source:
                raise InvalidArgument(f'cannot pass "{name}" option more than once: {OPTION_ARG}')
            if not has_value:
                raise InvalidArgument(f"{name}: {OPTION_ARG}")
            if not value:
                raise InvalidArgument(f"host directory cannot be empty: {OPTION_ARG}")
            spec.source = value
        elif name in ("target", "dst", "destination"):
            if spec.destination:
                raise InvalidArgument(f'cannot pass "{name}" option more than once: {OPTION_ARG}')
            if not has_value:
                raise InvalidArgument(f"{name}: {OPTION_ARG}")
            validate_ctr_dir(value)
            spec.destination = clean(value)
        elif name in ("tmpcopyup", "notmpcopyup"):
            not_for("bind", "volume")
            only_once("tmpcopyup", "'tmpcopyup' and 'notmpcopyup' mnt.Options")
            if name == "tmpcopyup":
                spec.options.append(name)
        elif name in ("tmpfs-mode", "tmpfs-size"):
            not_for("bind", "volume")
            if not has_value:
                raise InvalidArgument(f"{name}: {OPTION_ARG}")
            spec.options.append(f"{'mode' if name == 'tmpfs-mode' else 'size'}={value}")
        elif name in ("U", "chown"):
            only_once("U", "'U' or 'chown' option")
            if _bool_value(name, value, has_value):
                spec.options.append("U")
        elif name in ("volume-nocopy", "nocopy"):
            not_for("bind", "tmpfs")
            if _bool_value(name, value, has_value):
                spec.options.append("nocopy")
        elif name == "volume-opt":
            not_for("bind", "tmpfs")
            k, _, v = value.partition("=")
            spec.volume_options[k] = v
        elif name == "volume-label":
            not_for("bind", "tmpfs")
            raise InvalidArgument("the --volume-label option is not presently implemented")
        else:
            raise InvalidArgument(f"{name}: {BAD_OPTION}")
    if not spec.destination:
        raise InvalidArgument("must set volume destination")
    return spec


def parse_tmpfs_flag(value: str) -> MountSpec:
    dest, _, opts = value.partition(":")
    validate_ctr_dir(dest)
    return MountSpec("tmpfs", clean(dest), "tmpfs", [o for o in opts.split(",") if o])


def parse_volumes_from(value: str) -> tuple[str, list[str]]:
    """--volumes-from CTR[:ro|rw[,z]] -> (container, options)."""
    parts = value.split(":")
    if len(parts) > 2 or not parts[0]:
        raise InvalidArgument(f'invalid --volumes-from value "{value}": must be CONTAINER[:OPTIONS]')
    opts = [o for o in parts[1].split(",") if o] if len(parts) == 2 else []
    seen_rw = seen_z = False
    for o in opts:
        if o in ("ro", "rw"):
            if seen_rw:
                raise InvalidArgument("cannot set ro or rw options more than once")
            seen_rw = True
        elif o == "z":
            if seen_z:
                raise InvalidArgument("cannot set :z more than once in mount options")
            seen_z = True
        else:
            raise InvalidArgument(f"invalid options \"{parts[1]}\", can only specify 'ro', 'rw', and 'z'")
    return parts[0], opts


def _source_defaults(path: str) -> tuple[bool, bool, bool]:
    """(noexec, nosuid, nodev) of the filesystem holding path; a volume ("" path) gets nosuid,nodev."""
    if not path:
        return False, True, True
    try:
        st = os.statvfs(path)
    except OSError as e:
        raise InvalidArgument(f"statfs {path}: {(e.strerror or str(e)).lower()}") from None
    return bool(st.f_flag & os.ST_NOEXEC), bool(st.f_flag & os.ST_NOSUID), bool(st.f_flag & os.ST_NODEV)


def process_options(options: list[str], source: str) -> list[str]:
    """Podman's util.ProcessOptions for bind and volume mounts: the given options plus rw, a root
    propagation, the source filesystem's noexec/nosuid/nodev and rbind.  source "" = a named volume."""
    kinds = {"exec": "exec", "noexec": "exec", "suid": "suid", "nosuid": "suid", "dev": "dev", "nodev": "dev",
             "rw": "rw", "ro": "rw", "bind": "bind", "rbind": "bind", "z": "z", "Z": "z", "U": "U",
             "copy": "copy", "nocopy": "copy", "no-dereference": "deref"}
    kinds.update({p: "prop" for p in PROPAGATIONS})
    found: set[str] = set()
    out = []
    for opt in options:
        if opt.startswith("idmap"):
            raise InvalidArgument("idmapped mounts are not supported by berth")
        kind = kinds.get(opt)
        if kind is None:
            raise InvalidArgument(f'unknown mount option "{opt}": {BAD_OPTION}')
        if kind in found:
            raise InvalidArgument(f"the '{opt}' option can only be set once: duplicate mount option passed")
        found.add(kind)
        out.append(opt)
    recursive = "bind" not in out
    noexec, nosuid, nodev = _source_defaults(source)
    if "rw" not in found:
        out.append("rw")
    if "prop" not in found:
        out.append("rprivate" if recursive else "private")
    out += [o for o, want, kind in (("noexec", noexec, "exec"), ("nosuid", nosuid, "suid"),
                                     ("nodev", nodev, "dev")) if want and kind not in found]
    if "bind" not in found:
        out.append("rbind")
    return out


def oci_options(options: list[str]) -> list[str]:
    return [o for o in options if o not in ENGINE_ONLY]


def inspect_fields(options: list[str]) -> dict:
    """Podman's parseMountOptionsForInspect: RW, Propagation, Mode (z/Z) and the other options."""
    rw, prop, mode, other = True, "", "", []
    for o in options:
        if o == "ro":
            rw = False
        elif o == "rw":
            continue
        elif o in PROPAGATIONS:
            prop = o
        elif o in ("z", "Z"):
            mode = o
        else:
            other.append(o)
    return {"Mode": mode, "Options": other, "RW": rw, "Propagation": prop}


def local_driver_options(opts: dict[str, str]) -> tuple[dict[str, str], int | None, int | None]:
    """`volume create -o` for the local driver -> (stored options, uid, gid).

    o=uid=N,gid=N,size=S are split out as Podman does (UID/GID/SIZE keys); the rest of o= is handed to
    mount(8) with type= and device= when the volume is first used."""
    out: dict[str, str] = {}
    uid = gid = None
    for key, value in opts.items():
        if key != "o":
            out[key] = value
            continue
        keep = []
        for o in value.split(","):
            name, has_value, val = o.partition("=")
            low = name.lower()
            if low in ("uid", "gid"):
                if not has_value:
                    raise InvalidArgument(f"{low} option must provide a {low.upper()}: invalid argument")
                try:
                    num = int(val)
                except ValueError:
                    raise InvalidArgument(f"cannot convert {low.upper()} {val} to integer: strconv.Atoi: parsing "
                                          f'"{val}": invalid syntax') from None
                if low == "uid":
                    uid = num
                else:
                    gid = num
                out[low.upper()] = val
                keep.append(o)
            elif low in ("size", "inodes"):
                out[low.upper()] = val
                keep.append(o)
            elif low == "noquota":
                out["NOQUOTA"] = "true"
            else:
                keep.append(o)
        if keep:
            out["o"] = ",".join(keep)
    for key, value in out.items():
        low = key.lower()
        if low == "device" and out.get("type", "").lower() == "bind" and not os.path.exists(value):
            raise InvalidArgument(f"invalid volume option device for driver 'local': stat {value}: "
                                  "no such file or directory")
        if low not in LOCAL_KEYS:
            raise InvalidArgument(f"invalid mount option {key} for driver 'local': invalid argument")
    sized = "SIZE" in out or "INODES" in out
    if sized and "NOQUOTA" in out:
        raise InvalidArgument("volume options size and inodes cannot be used without quota")
    if "INODES" in out and out.get("type") == "tmpfs":
        raise InvalidArgument("volume option inodes not supported on tmpfs filesystem")
    if sized and out.get("type") != "tmpfs":
        # a size on a plain directory needs XFS project quotas, which berth does not set up
        raise InvalidArgument("volume options size and inodes not supported. Filesystem does not support "
                              "Project Quota")
    return out, uid, gid
