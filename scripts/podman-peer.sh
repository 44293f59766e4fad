#!/usr/bin/env bash
# podman-peer.sh - make Debian's podman usable as berth's comparison peer on this kind of machine
# (cgroup v1 hybrid, where crun fails; no CAP_SYS_RESOURCE, so ulimits must stay within the hard ones).
# Idempotent. As root it writes /etc/containers/containers.conf; as any other user (rootless)
# ${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf, and checks /etc/subuid, /etc/subgid.
# A file that is not ours (no marker) is kept as containers.conf.berth-orig before being replaced.
# Prints one line on success.
set -euo pipefail
MARKER="# managed by berth scripts/podman-peer.sh"

if [ "$(id -u)" -eq 0 ]; then
  CONF=${PODMAN_PEER_CONF:-/etc/containers/containers.conf}
else
  CONF=${PODMAN_PEER_CONF:-${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf}
  user=$(id -un)
  for f in /etc/subuid /etc/subgid; do
    grep -q "^$user:" "$f" 2>/dev/null || {
      echo "podman-peer.sh: $user has no range in $f (as root: usermod --add-subuids FROM-TO --add-subgids FROM-TO $user)" >&2
      exit 1
    }
  done
fi

# min(wanted, hard limit of the caller); "unlimited" never clamps
clamp() { if [ "$2" = unlimited ] || [ "$2" -ge "$1" ]; then echo "$1"; else echo "$2"; fi; }
nofile=$(clamp 20000 "$(ulimit -Hn)")
nproc=$(clamp 4096 "$(ulimit -Hu)")

want="$MARKER
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]

[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"

[network]
network_backend = \"netavark\""

if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$want" ]; then
  state=unchanged
else
  mkdir -p "$(dirname "$CONF")"
  if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF" && [ ! -e "$CONF.berth-orig" ]; then
    cp -p "$CONF" "$CONF.berth-orig"
  fi
  printf '%s\n' "$want" >"$CONF.tmp.$$"
  mv -f "$CONF.tmp.$$" "$CONF"
  state=written
fi
echo "podman-peer: $CONF $state (runc, cgroupfs, netavark, nofile=$nofile:$nofile, nproc=$nproc:$nproc)"
