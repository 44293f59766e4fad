#!/usr/bin/env bash
# The article's story, as far as berth has come: a web server container started detached,
# seen in ps, its page fetched, its logs shown, stopped and removed. No daemon at any point.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=(.venv/bin/berth ${BERTH_DEMO_ROOT:+--root "$BERTH_DEMO_ROOT"} ${BERTH_DEMO_RUNROOT:+--runroot "$BERTH_DEMO_RUNROOT"})
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "berth $*"; "${BERTH[@]}" "$@"; }

"${BERTH[@]}" image exists localhost/busybox || run import images/busybox.tar localhost/busybox
run images
run run -d --replace --name web localhost/busybox httpd -f -vv -p 8080 -h /www
run ps
say "berth exec web wget -qO- http://127.0.0.1:8080/   (the page, fetched inside the container's network)"
"${BERTH[@]}" exec web wget -qO- http://127.0.0.1:8080/
run logs web
run stop -t 2 web
run ps -a --format '{{.Names}} {{.Status}}'
run rm web
say "ps -a shows nothing left; no daemon was ever running:"
"${BERTH[@]}" ps -a
pgrep -a 'berth|conmon' | grep -v pgrep || echo "(no berth or conmon process left)"
