"""`berth generate systemd`: the unit text of both forms, systemd-analyze verify, and the --new unit's
commands executed in order the way systemd would run them (specifiers expanded by the test)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from berth.systemd.escape import split_words
from tests.conftest import until

REPO = Path(__file__).resolve().parent.parent.parent
BERTH_BIN = str(Path(sys.executable).parent / "berth")
LOOP = 'trap "exit 0" TERM; while :; do sleep 0.1; done'   # stops at once on SIGTERM


def analyze_verify(paths: list[Path]) -> None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        print("systemd-analyze is missing (Debian package systemd): units not verified")
        return
    r = subprocess.run([exe, "verify", *map(str, paths)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


# a tiny systemd: reads a unit, expands specifiers, runs Exec lines -------------------------------

def read_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    text = text.replace("\\\n", " ")
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            current = sections.setdefault(s[1:-1], [])
            continue
        k, _, v = s.partition("=")
        current.append((k.strip(), v.strip()))
    return sections


def expand(value: str, spec: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "%" and i + 1 < len(value):
            out.append("%" if value[i + 1] == "%" else spec[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


class Unit:
    def __init__(self, text: str, name: str, runtime_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.sections = read_unit(text)
        self.spec = {"t": str(runtime_dir), "n": name, "N": name.removesuffix(".service"), "i": ""}
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        for k, v in self.sections["Service"]:
            if k == "Environment":
                for assign in split_words(expand(v, self.spec)):
                    key, _, val = assign.partition("=")
                    self.env[key] = val
        self.env.update(extra_env or {})

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.sections["Service"] if k == key]

    def run(self, key: str) -> None:
        for value in self.values(key):
            ignore = value.startswith("-")
            words = [w.replace("$$", "$") for w in split_words(expand(value.lstrip("-"), self.spec))]
            r = subprocess.run(words, env=self.env, capture_output=True, text=True, timeout=60)
            assert ignore or r.returncode == 0, f"{key}={value} exited {r.returncode}: {r.stderr}"


# tests ------------------------------------------------------------------------------------------------

def _store(bb) -> str:
    return f"{BERTH_BIN} \\\n\t--root {bb.root} \\\n\t--runroot {bb.runroot}"


def test_plain_unit_text_and_lifecycle(bb, tmp_path):
    cid = bb.out("create", "--name", "web", "--stop-timeout", "4", "localhost/busybox", "sh", "-c", LOOP)
    text = bb.out("generate", "systemd", "--name", "--no-header", "web") + "\n"
    pidfile = f"{bb.runroot}/containers/{cid}/conmon.pid"
    assert text == f"""# container-web.service

[Unit]
Description=berth container-web.service
Documentation=man:podman-generate-systemd(1)
Wants=network-online.target
After=network-online.target
RequiresMountsFor={bb.runroot}

[Service]
Environment=PODMAN_SYSTEMD_UNIT=%n
Restart=on-failure
TimeoutStopSec=64
ExecStart={_store(bb)} start web
ExecStop={_store(bb)} stop  \\
\t-t 4 web
ExecStopPost={_store(bb)} stop  \\
\t-t 4 web
PIDFile={pidfile}
Type=forking

[Install]
WantedBy=default.target
"""
    unit_file = tmp_path / "container-web.service"
    unit_file.write_text(text)
    analyze_verify([unit_file])
    unit = Unit(text, unit_file.name, tmp_path)
    unit.run("ExecStart")
    assert bb.out("ps", "--format", "{{.Names}}") == "web"
    with open(pidfile) as f:
        conmon_pid = int(f.read())
    os.kill(conmon_pid, 0)                       # the PIDFile names the live conmon
    start = time.monotonic()
    unit.run("ExecStop")
    unit.run("ExecStopPost")
    assert time.monotonic() - start < 4
    assert bb.out("ps", "-a", "--format", "{{.Names}} {{.State}}") == "web exited"


def test_new_unit_runs_stops_and_removes_the_container(bb, tmp_path):
    bb("create", "--name", "web", "-e", "FOO=bar", "-e", "HOME", "-l", "a=b", "--stop-timeout", "4",
       "--restart", "on-failure:3", "localhost/busybox", "sh", "-c", f"echo \"$FOO %s\" 100%; {LOOP}")
    text = bb.out("generate", "systemd", "--new", "--name", "--no-header", "web") + "\n"
    home = next(e for e in json.loads(bb.out("inspect", "web"))[0]["Config"]["Env"] if e.startswith("HOME="))
    assert text == f"""# container-web.service

[Unit]
Description=berth container-web.service
Documentation=man:podman-generate-systemd(1)
Wants=network-online.target
After=network-online.target
RequiresMountsFor={bb.runroot}

[Service]
Environment=PODMAN_SYSTEMD_UNIT=%n
Environment={home}
Restart=on-failure
StartLimitBurst=3
TimeoutStopSec=64
ExecStartPre=/bin/rm \\
\t-f %t/%n.ctr-id
ExecStart={_store(bb)} run \\
\t--cidfile=%t/%n.ctr-id \\
\t--rm \\
\t--sdnotify=conmon \\
\t-d \\
\t--replace \\
\t--name web \\
\t-e FOO=bar \\
\t-e HOME \\
\t-l a=b \\
\t--stop-timeout 4 localhost/busybox sh \\
\t-c "echo \\"$$FOO %%s\\" 100%%; {LOOP.replace('"', chr(92) + '"')}"
ExecStop={_store(bb)} stop \\
\t--ignore -t 4 \\
\t--cidfile=%t/%n.ctr-id
ExecStopPost={_store(bb)} rm \\
\t-f \\
\t--ignore -t 4 \\
\t--cidfile=%t/%n.ctr-id
Type=notify
NotifyAccess=all

[Install]
WantedBy=default.target
"""
    unit_file = tmp_path / "container-web.service"
    unit_file.write_text(text)
    analyze_verify([unit_file])
    run_dir = tmp_path / "xdg-run"
    run_dir.mkdir()
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.1)
    try:
        unit = Unit(text, unit_file.name, run_dir, {"NOTIFY_SOCKET": notify_path})
        unit.run("ExecStartPre")
        unit.run("ExecStart")                    # replaces the created container
        cid = (run_dir / "container-web.service.ctr-id").read_text().strip()
        assert bb.out("ps", "--format", "{{.ID}} {{.Names}}") == f"{cid[:12]} web"
        _until(lambda: "$FOO %s" not in bb.out("logs", "web"))
        assert bb.out("logs", "web") == "bar %s 100%"    # $$ and %% reached the container as $ and %
        messages = []
        try:
            while True:
                messages.append(notify.recv(4096).decode())
        except TimeoutError:
            pass
        start = time.monotonic()
        unit.run("ExecStop")
        unit.run("ExecStopPost")
        assert time.monotonic() - start < 4
        _until(lambda: bb.out("ps", "-a", "--format", "{{.Names}}") == "")
    finally:
        notify.close()
    # `run --sdnotify=conmon` tells systemd the unit is up, with conmon as its main process
    assert any(m.startswith("MAINPID=") and "READY=1" in m for m in messages), messages


def _until(cond, timeout: float = 10.0) -> None:
    until(cond, timeout, every=0.05)


def test_template_files_json_and_options(bb, tmp_path):
    cid = bb.out("create", "--name", "tpl", "localhost/busybox", "true")
    r = subprocess.run(bb.argv("generate", "systemd", "--template", "--files", "--no-header", "-e", "X=1",
                               "-e", "Y=a b", "--after", "a.service", "--after", "b.service", "--wants",
                               "w.service", "--requires", "r.service", "--restart-sec", "5", "--start-timeout",
                               "30", "--stop-timeout", "3", "--restart-policy", "always", "tpl"),
                       cwd=tmp_path, capture_output=True, text=True, check=True)
    path = tmp_path / f"container-{cid}.service"
    assert r.stdout == f"{path}\n"
    text = path.read_text()
    assert f"# container-{cid}@.service\n" in text
    assert f"Description=berth container-{cid}.service for %I\n" in text
    assert ("\n# User-defined dependencies\nWants=w.service\nAfter=a.service b.service\n"
            "Requires=r.service\n") in text
    assert ("Environment=PODMAN_SYSTEMD_UNIT=%n-%i\nEnvironment=X=1\nEnvironment=\"Y=a b\"\nRestart=always\n"
            "RestartSec=5\nTimeoutStartSec=30\nTimeoutStopSec=63\n") in text
    assert "\t--name tpl-%i localhost/busybox true\n" in text and "\t--ignore -t 3 \\\n" in text
    instance = tmp_path / "container-x@.service"
    instance.write_text(text)
    stubs = []
    for dep in "abwr":
        stubs.append(tmp_path / f"{dep}.service")
        stubs[-1].write_text("[Service]\nExecStart=/bin/true\n")
    analyze_verify([instance, *stubs])

    out = json.loads(bb.out("generate", "systemd", "--format", "json", "--container-prefix", "c",
                            "--separator", "_", "tpl"))
    assert list(out) == [f"c_{cid}"]
    first = out[f"c_{cid}"].splitlines()
    assert first[0] == f"# c_{cid}.service" and first[1] == "# autogenerated by berth 0.1.0"
    assert first[2].startswith("# ") and first[2].endswith(time.strftime("%Y"))


def test_generate_errors(bb):
    bb("create", "--name", "e", "--restart", "always", "localhost/busybox", "true")
    r = bb.fail("generate", "systemd", "nope", code=125)
    assert r.stderr == "Error: nope does not refer to a container or pod: no such pod: no such container\n"
    r = bb.fail("generate", "systemd", "--restart-policy", "sometimes", "e", code=125)
    assert r.stderr == "Error: sometimes is not a valid restart policy\n"
    r = bb.fail("generate", "systemd", "--format", "yaml", "e", code=125)
    assert r.stderr == "Error: unknown --format argument: yaml\n"
    r = bb.fail("generate", "systemd", "--stop-timeout", "1", "-t", "2", "e", code=125)
    assert "redundant" in r.stderr
    r = bb("generate", "systemd", "e")
    assert 'has restart policy \\"always\\" which can lead to issues on shutdown' in r.stderr


def test_restart_unit_ships_and_its_commands_work(bb, tmp_path):
    src = (REPO / "contrib" / "systemd" / "berth-restart.service").read_text()
    assert "Type=oneshot" in src
    assert "ExecStart=berth $LOGGING start --all --filter restart-policy=always\n" in src
    assert "ExecStop=berth $LOGGING stop --all\n" in src
    rendered = tmp_path / "berth-restart.service"      # berth is not on systemd's search path here
    rendered.write_text(src.replace("=berth ", f"={BERTH_BIN} "))
    user = tmp_path / "user-berth-restart.service"
    user.write_text((REPO / "contrib/systemd/user/berth-restart.service").read_text()
                    .replace("=berth ", f"={BERTH_BIN} "))
    analyze_verify([rendered, user, REPO / "contrib/systemd/user/berth-user-wait-network-online.service"])
    bb("create", "--name", "always", "--restart", "always", "localhost/busybox", "sh", "-c", LOOP)
    bb("create", "--name", "never", "localhost/busybox", "sh", "-c", LOOP)
    unit = Unit(rendered.read_text().replace("$LOGGING", f"--root {bb.root} --runroot {bb.runroot}"),
                "berth-restart.service", tmp_path)
    unit.run("ExecStart")
    assert bb.out("ps", "--format", "{{.Names}}") == "always"
    unit.run("ExecStop")
    assert bb.out("ps", "--format", "{{.Names}}") == ""


def test_quadlet_unit_commands_run(bb, tmp_path):
    """A Quadlet .container unit, executed like systemd: runs as systemd-%N and is removed at stop."""
    qdir = tmp_path / "quadlets"
    qdir.mkdir()
    (qdir / "sleeper.container").write_text(
        f"[Container]\nImage=localhost/busybox\nGlobalArgs=--root {bb.root} --runroot {bb.runroot}\n"
        f"Exec=sh -c '{LOOP}'\nEnvironment=A=1\n")
    out = tmp_path / "out"
    env = dict(os.environ, QUADLET_UNIT_DIRS=str(qdir), BERTH=BERTH_BIN)
    subprocess.run([sys.executable, "-m", "berth.systemd.quadlet", "-no-kmsg-log", str(out)], env=env,
                   check=True, timeout=60)
    text = (out / "sleeper.service").read_text()
    analyze_verify([out / "sleeper.service"])
    unit = Unit(text, "sleeper.service", tmp_path)
    unit.run("ExecStart")
    assert bb.out("ps", "--format", "{{.Names}}") == "systemd-sleeper"
    assert "A=1" in bb.out("exec", "systemd-sleeper", "env")
    start = time.monotonic()
    unit.run("ExecStop")
    unit.run("ExecStopPost")
    assert time.monotonic() - start < 5
    assert bb.out("ps", "-a", "--format", "{{.Names}}") == ""
