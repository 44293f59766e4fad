"""The OCI runtime is chosen by running a throw-away container with each candidate (crun first)."""

from __future__ import annotations

import json
import os

import pytest

from berth.errors import InvalidArgument
from berth.oci.runtime import find_binary, pick_runtime, probe

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the probe creates cgroups: needs root")


def test_runc_works_here_and_the_choice_is_cached(tmp_path):
    runc = find_binary("runc")
    assert runc and probe(runc, str(tmp_path))
    crun = find_binary("crun")
    crun_works = bool(crun) and probe(crun, str(tmp_path))
    rt = pick_runtime("", "", str(tmp_path / "run"))
    # crun is preferred wherever it can start a container; on a cgroup v1/v2 hybrid host it cannot
    assert rt.name == ("crun" if crun_works else "runc")
    cached = json.loads((tmp_path / "run" / "runtime.json").read_text())
    assert cached == {"name": rt.name, "path": rt.path}
    assert rt.state_root == str(tmp_path / "run" / "runtime")
    # the cache answers next time: a bogus cached choice is taken as long as the binary exists
    (tmp_path / "run" / "runtime.json").write_text(json.dumps({"name": "runc", "path": runc}))
    assert pick_runtime("", "", str(tmp_path / "run")).path == runc
    assert not [d for d in os.listdir(tmp_path) if d.startswith("probe-")]  # probe bundles are removed


def test_flag_and_containers_conf_override_the_probe(tmp_path):
    assert pick_runtime("runc", "crun", str(tmp_path)).name == "runc"      # --runtime wins
    assert pick_runtime("", "runc", str(tmp_path)).name == "runc"          # then containers.conf
    assert not (tmp_path / "runtime.json").exists()                        # no probe was needed
    with pytest.raises(InvalidArgument, match='could not find a working binary'):
        pick_runtime("no-such-runtime", "", str(tmp_path))


def test_cli_runtime_flag_reaches_info(bb):
    assert bb.out("--runtime", "runc", "info", "--format", "{{.Host.OCIRuntime.Name}}") == "runc"
