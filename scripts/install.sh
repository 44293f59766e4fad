#!/usr/bin/env bash
# Installs what berth needs on Debian 12 or 13, then a venv with berth and its test tools.
# Idempotent: it only calls apt when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(runc crun conmon busybox-static golang-github-containers-common catatonit python3-venv tar
      netavark aardvark-dns iproute2 iptables procps util-linux uidmap podman skopeo openssh-server openssh-client
      docker-registry apache2-utils openssl curl systemd passt fuse-overlayfs slirp4netns)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# CRIU >= 4.2 (Debian 12's 3.17 cannot dump on this kernel): built once into /usr/local/sbin
if [ "$(id -u)" -eq 0 ] && ! /usr/local/sbin/criu --version 2>/dev/null | grep -Eq 'Version: (4\.([2-9]|[1-9][0-9])|[5-9])'; then
  CRIU_APT_OPTS="${CRIU_APT_OPTS:--o Acquire::Check-Valid-Until=false}" nice scripts/criu-install.sh
fi

# The venv comes from Debian's python3, never a pyenv shim (100 ms per start).
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.berth-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
  touch "$stamp"
fi
# pip's console script starts Python with `site` (~3-5 ms of every command); berth's own launcher
# does not (berth/launcher.py). Written on every install: pip rewrites the script when it reinstalls.
.venv/bin/python -m berth.launcher .venv/bin/berth
if [ -x scripts/podman-peer.sh ] && [ "$(id -u)" -eq 0 ]; then
  scripts/podman-peer.sh
fi
# Byte-compile once: with PYTHONDONTWRITEBYTECODE set (as on these machines) every start would
# otherwise recompile the modules it imports, ~30 ms of each command.
.venv/bin/python -m compileall -q -j 0 berth >/dev/null
