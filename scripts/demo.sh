#!/usr/bin/env bash
# The article's story with berth: a web server container started detached, seen in ps, its page
# fetched through a published port, its logs shown; checkpointed to one archive and restored (the
# migration story); turned into a systemd unit; stopped and removed.  No daemon at any point.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=(.venv/bin/berth ${BERTH_DEMO_ROOT:+--root "$BERTH_DEMO_ROOT"} ${BERTH_DEMO_RUNROOT:+--runroot "$BERTH_DEMO_RUNROOT"})
PORT=${BERTH_DEMO_PORT:-8080}
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "berth $*"; "${BERTH[@]}" "$@"; }
fetch() {
  for _ in $(seq 50); do busybox wget -qO- "http://127.0.0.1:$PORT/" 2>/dev/null && return 0; sleep 0.1; done
  echo "could not fetch the page" >&2; return 1
}

"${BERTH[@]}" image exists localhost/busybox || run import images/busybox.tar localhost/busybox
run images
run run -d --replace --name web -p "$PORT:80" localhost/busybox httpd -f -vv -p 80 -h /www
run ps
say "wget -qO- http://127.0.0.1:$PORT/   (from the host, through the published port)"
fetch
run logs web

archive=$(mktemp -d)/web.tar.zst
run container checkpoint -e "$archive" web
say "ls -l $archive   (the whole container in one file: memory, rootfs changes, config)"
ls -l "$archive"
run container restore -i "$archive" --name web-restored -p "$PORT:80" || true
"${BERTH[@]}" container exists web-restored && { say "the restored server answers:"; fetch; }
rm -rf "$(dirname "$archive")"

run generate systemd --new --name web-restored
run stop -t 2 web-restored web
run ps -a --format '{{.Names}} {{.Status}}'
run rm web web-restored
say "ps -a shows nothing left; no daemon was ever running:"
"${BERTH[@]}" ps -a
root=$("${BERTH[@]}" info --format '{{.Store.GraphRoot}}')
pgrep -af "conmon.*$root" || echo "(no conmon of this store left, and berth itself never stayed running)"
say "the podman0 bridge stays up for the next container, as Docker's docker0 does (berth system reset takes it down):"
ip -br link show podman0 2>/dev/null || echo "(no podman0 bridge)"
