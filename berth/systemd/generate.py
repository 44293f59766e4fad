"""`generate systemd` for containers: the unit shapes of Podman 4.3/5.x (pkg/systemd/generate).

Two forms:
- plain: the unit starts and stops an existing container; conmon is the main process
  (Type=forking, PIDFile=<runroot>/containers/<id>/conmon.pid);
- --new: the unit creates the container at start (`run --rm --replace -d` rebuilt from the
  container's create command) and removes it at stop (Type=notify, READY=1 sent for conmon).

Differences from Podman, on purpose: every Exec line carries the store flags (--root/--runroot...)
of the generating command, so the unit drives the store the container lives in; the `--new` run
line has no `--cgroups=no-conmon` (berth's run has no --cgroups flag: see CGROUPS_FLAGS).
"""

from __future__ import annotations

import sys
import time

from berth.flags import GLOBAL_VALUE_FLAGS
from berth.systemd.escape import escape_arg
from berth.util.record import field, record

ENV_VARIABLE = "PODMAN_SYSTEMD_UNIT"
MIN_TIMEOUT_STOP_SEC = 60
RESTART_POLICIES = ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always")
DEFAULT_RESTART_POLICY = "on-failure"
CIDFILE = "%t/%n.ctr-id"
# Podman adds --cgroups=no-conmon so conmon stays in the unit's cgroup.  berth's run has no --cgroups
# flag and never moves conmon, so nothing is added; put the flag here once `run --cgroups` exists.
CGROUPS_FLAGS: tuple[str, ...] = ()
SDNOTIFY_FLAG = "--sdnotify=conmon"
# Boolean flags of run/create in case the caller does not pass the table of its own parser.
DEFAULT_BOOL_FLAGS = frozenset({
    "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--replace", "--init", "--read-only",
    "--privileged", "--no-healthcheck", "-P", "--publish-all", "--env-host", "--read-only-tmpfs", "--no-hosts",
    "--rmi", "--oom-kill-disable", "--unsetenv-all", "-q", "--quiet", "--help",
})
STORE_FLAGS = frozenset({"--root", "--runroot"})


class GenerateError(ValueError):
    pass


@record
class GenerateOptions:
    name: bool = False                 # use the container name instead of its ID
    new: bool = False
    template: bool = False
    no_header: bool = False
    restart_policy: str | None = None  # None: the default or the container's --restart
    restart_sec: int | None = None
    start_timeout: int | None = None
    stop_timeout: int | None = None    # None: the container's own
    container_prefix: str = "container"
    separator: str = "-"
    wants: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    executable: str = "/usr/bin/berth"
    global_args: list[str] = field(default_factory=list)  # store flags every Exec line carries
    runroot: str = "/run/berth"        # RequiresMountsFor= of the plain form
    new_runroot: str = "%t/berth"      # RequiresMountsFor= of the --new form
    version: str = ""
    timestamp: str | None = None       # None: now
    bool_flags: frozenset[str] = DEFAULT_BOOL_FLAGS


@record
class ContainerFacts:
    """What the generator needs to know about one container."""

    id: str
    name: str
    create_command: list[str]
    env: list[str]
    stop_timeout: int
    restart_policy: str
    conmon_pidfile: str


def service_name(prefix: str, separator: str, name: str) -> str:
    return f"{prefix}{separator}{name}" if prefix else name


def format_options(words: list[str]) -> str:
    """One Exec line, broken before each option as Podman does (`\\` newline tab)."""
    if not words:
        return ""
    out = [words[0]]
    for w in words[1:]:
        out.append(" \\\n\t" + w if w.startswith("-") else " " + w)
    return "".join(out)


def _warn(msg: str) -> None:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stderr.write(f'time="{ts}" level=warning msg="{msg}"\n')


def container_unit(c: ContainerFacts, opts: GenerateOptions) -> tuple[str, str]:
    """Returns (service name without .service, unit text)."""
    if opts.restart_policy is not None and opts.restart_policy not in RESTART_POLICIES:
        raise GenerateError(f"{opts.restart_policy} is not a valid restart policy")
    new = opts.new or opts.template
    if not new and c.restart_policy not in ("", "no"):
        _warn(f"Container {c.id} has restart policy \\\"{c.restart_policy}\\\" which can lead to issues on "
              "shutdown: consider recreating the container without a restart policy and use systemd's "
              "restart mechanism instead")
    name_or_id = c.name if opts.name else c.id
    svc = service_name(opts.container_prefix, opts.separator, name_or_id)
    stop_timeout = c.stop_timeout if opts.stop_timeout is None else opts.stop_timeout
    exe = [escape_arg(opts.executable)] + [escape_arg(a) for a in opts.global_args]
    restart = opts.restart_policy or DEFAULT_RESTART_POLICY
    start_limit_burst = ""
    extra_envs: list[str] = []
    if new:
        start_pre: str | None = "/bin/rm -f " + CIDFILE
        run, from_create = _new_run_command(c, opts, svc)
        exec_start = format_options(exe + run)
        # "--ignore -t N" stays on one line, as in Podman's output
        exec_stop = format_options(exe + ["stop", f"--ignore -t {stop_timeout}", f"--cidfile={CIDFILE}"])
        exec_stop_post = format_options(exe + ["rm", "-f", f"--ignore -t {stop_timeout}", f"--cidfile={CIDFILE}"])
        if opts.restart_policy is None and from_create.restart:
            policy = from_create.restart
            if policy.startswith("on-failure:"):
                policy, _, start_limit_burst = policy.partition(":")
            elif policy == "unless-stopped":
                policy = "always"
            restart = policy
        for e in from_create.env:
            if "=" not in e:
                extra_envs += [escape_arg(v) for v in c.env if v.partition("=")[0] == e]
        unit_type, notify_access, pidfile = "notify", "all", ""
        requires_mounts = opts.new_runroot
    else:
        start_pre = None
        exec_start = format_options(exe + ["start", name_or_id])
        # "stop  \\\n\t-t N": Podman's template leaves two blanks there; kept so outputs diff cleanly
        exec_stop = format_options(exe + ["stop ", "-t", str(stop_timeout), name_or_id])
        exec_stop_post = exec_stop
        unit_type, notify_access, pidfile = "forking", "", c.conmon_pidfile
        requires_mounts = opts.runroot

    out = [f"# {svc}{'@' if opts.template else ''}.service"]
    if not opts.no_header:
        out.append(f"# autogenerated by berth {opts.version}".rstrip())
        out.append("# " + (opts.timestamp if opts.timestamp is not None else time.strftime("%a %b %e %H:%M:%S %Z %Y")))
    out += ["", "[Unit]", f"Description=berth {svc}.service{' for %I' if opts.template else ''}",
            "Documentation=man:podman-generate-systemd(1)",
            "Wants=network-online.target", "After=network-online.target", f"RequiresMountsFor={requires_mounts}"]
    if opts.wants or opts.after or opts.requires:
        out += ["", "# User-defined dependencies"]
        for key, vals in (("Wants", opts.wants), ("After", opts.after), ("Requires", opts.requires)):
            if vals:
                out.append(f"{key}={' '.join(vals)}")
    out += ["", "[Service]", f"Environment={ENV_VARIABLE}=%n{'-%i' if opts.template else ''}"]
    if extra_envs:
        out.append("Environment=" + " ".join(extra_envs))
    out += [f"Environment={escape_arg(e)}" for e in opts.env]
    out.append(f"Restart={restart}")
    if opts.restart_sec:
        out.append(f"RestartSec={opts.restart_sec}")
    if start_limit_burst:
        out.append(f"StartLimitBurst={start_limit_burst}")
    if opts.start_timeout:
        out.append(f"TimeoutStartSec={opts.start_timeout}")
    out.append(f"TimeoutStopSec={MIN_TIMEOUT_STOP_SEC + stop_timeout}")
    if start_pre:
        out.append("ExecStartPre=" + format_options(start_pre.split(" ")))
    out += [f"ExecStart={exec_start}", f"ExecStop={exec_stop}", f"ExecStopPost={exec_stop_post}"]
    if pidfile:
        out.append(f"PIDFile={pidfile}")
    out.append(f"Type={unit_type}")
    if notify_access:
        out.append(f"NotifyAccess={notify_access}")
    out += ["", "[Install]", "WantedBy=default.target", ""]
    return svc, "\n".join(out)


# rebuilding the run command -------------------------------------------------------------------

@record
class _Parsed:
    flags: list[str]            # the option part of the create command
    positional: list[str]       # IMAGE [COMMAND...]
    detach: bool = False
    detach_set: bool = False
    name: bool = False
    replace: bool = False
    replace_set: bool = False
    sdnotify: str | None = None
    restart: str = ""
    env: list[str] = field(default_factory=list)


def split_create_command(cmd: list[str]) -> tuple[list[str], list[str]]:
    """(global flags, arguments after run/create) of a recorded `berth ... run|create ...` line."""
    i = 1
    while i < len(cmd):
        a = cmd[i]
        if a in GLOBAL_VALUE_FLAGS:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        break
    globals_ = cmd[1:i]
    if i < len(cmd) and cmd[i] == "container":
        i += 1
    if i >= len(cmd) or cmd[i] not in ("run", "create"):
        raise GenerateError(f"container's create command is too short or invalid: {cmd}")
    return globals_, cmd[i + 1:]


def _bool_value(v: str) -> bool:
    return v.lower() not in ("false", "0", "no")


def parse_run_args(args: list[str], bool_flags: frozenset[str]) -> _Parsed:
    """Split run/create arguments into options and IMAGE [COMMAND], noting the flags --new rewrites."""
    p = _Parsed(flags=[], positional=[])
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            p.flags.append(a)
            p.positional = args[i + 1:]
            return p
        if not a.startswith("-") or a == "-":
            p.positional = args[i:]
            return p
        p.flags.append(a)
        if a.startswith("--"):
            key, eq, val = a.partition("=")
            if not eq and key not in bool_flags:
                val = args[i + 1] if i + 1 < len(args) else ""
                if i + 1 < len(args):
                    p.flags.append(val)
                i += 1
            _note(p, key, val if (eq or key not in bool_flags) else None)
            i += 1
            continue
        # short options, possibly combined (-dit) or with an attached value (-eFOO=1)
        j = 1
        while j < len(a):
            opt = "-" + a[j]
            if opt in bool_flags:
                rest = a[j + 1:]
                if rest.startswith("="):
                    _note(p, opt, rest[1:])
                    break
                _note(p, opt, None)
                j += 1
                continue
            val = a[j + 1:].removeprefix("=")
            if not a[j + 1:]:
                val = args[i + 1] if i + 1 < len(args) else ""
                if i + 1 < len(args):
                    p.flags.append(val)
                i += 1
            _note(p, opt, val)
            break
        i += 1
    return p


def _note(p: _Parsed, flag: str, val: str | None) -> None:
    if flag in ("-d", "--detach"):
        p.detach = val is None or _bool_value(val)
        p.detach_set = True
    elif flag == "--name":
        p.name = True
    elif flag == "--replace":
        p.replace = val is None or _bool_value(val)
        p.replace_set = True
    elif flag == "--sdnotify":
        p.sdnotify = val or ""
    elif flag == "--restart":
        p.restart = val or ""
    elif flag in ("-e", "--env") and val is not None:
        p.env.append(val)


def _filter_flags(flags: list[str], drop_sdnotify: bool) -> list[str]:
    """Drop what the unit sets itself: --rm, --cidfile, --restart (+ --sdnotify when forced)."""
    with_value = {"--cidfile", "--restart", "--cgroups"} | ({"--sdnotify"} if drop_sdnotify else set())
    out: list[str] = []
    i = 0
    while i < len(flags):
        f = flags[i]
        key = f.partition("=")[0]
        if key == "--rm" or f in ("-d=false", "--detach=false", "--replace=false"):
            i += 1
            continue
        if key in with_value:
            i += 1 if "=" in f else 2
            continue
        out.append(f)
        i += 1
    return out


def _new_run_command(c: ContainerFacts, opts: GenerateOptions, svc: str) -> tuple[list[str], _Parsed]:
    if not c.create_command:
        raise GenerateError(f"cannot use --new on container \"{c.id}\": no create command found: only works on "
                            "containers created directly with berth but not via REST API")
    globals_, rest = split_create_command(c.create_command)
    kept_globals: list[str] = []
    i = 0
    while i < len(globals_):
        g = globals_[i]
        key = g.partition("=")[0]
        if key in STORE_FLAGS:          # replaced by the generating command's store flags
            i += 1 if "=" in g else 2
            continue
        kept_globals.append(g)
        if g in GLOBAL_VALUE_FLAGS and i + 1 < len(globals_):
            kept_globals.append(globals_[i + 1])
            i += 1
        i += 1
    parsed = parse_run_args(rest, opts.bool_flags)
    head = ["run", f"--cidfile={CIDFILE}", *CGROUPS_FLAGS, "--rm"]
    force_sdnotify = parsed.sdnotify == "ignore"
    if parsed.sdnotify is None or force_sdnotify:
        head.append(SDNOTIFY_FLAG)
    if not parsed.detach:
        head.append("-d")
    if parsed.name and not parsed.replace:
        head.append("--replace")
    tail = [escape_arg(a) for a in _filter_flags(parsed.flags, force_sdnotify) + parsed.positional]
    words = [escape_arg(g) for g in kept_globals] + head + tail
    if opts.template:
        words = _template_name(words, len(kept_globals), svc)
    return words, parsed


def _template_name(words: list[str], run_index: int, svc: str) -> list[str]:
    """Give each instance its own container name: --name NAME-%i (inserted after `run` if absent)."""
    words = list(words)
    for i, w in enumerate(words):
        if i <= run_index:
            continue
        if w == "--name" and i + 1 < len(words):
            words[i + 1] += "-%i"
            return words
        if w.startswith("--name="):
            words[i] += "-%i"
            return words
    words.insert(run_index + 1, f"--name={svc}-%i")
    return words
