#!/bin/sh
# mkbusybox.sh OUT.tar - a minimal rootfs tar from the host's busybox-static.
# Deterministic: the same host busybox always gives the same bytes (same digest).
set -euf
[ $# -eq 1 ] || { echo "usage: $0 OUT.tar" >&2; exit 2; }
OUT=$1
BB=${BUSYBOX:-/bin/busybox}
umask 022
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

mkdir -p "$d/bin" "$d/sbin" "$d/usr/bin" "$d/usr/sbin" "$d/etc" "$d/tmp" "$d/var" \
         "$d/proc" "$d/sys" "$d/dev" "$d/root" "$d/home" "$d/www"
chmod 755 "$d"
chmod 1777 "$d/tmp"
chmod 700 "$d/root"
cp "$BB" "$d/bin/busybox"
chmod 755 "$d/bin/busybox"
for a in $("$d/bin/busybox" --list-full); do
  [ "$a" = bin/busybox ] || ln -s /bin/busybox "$d/$a"
done

cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
tester:x:1000:1000::/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$d/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
www-data:x:33:
staff:x:50:tester
tester:x:1000:
nogroup:x:65534:
EOF
echo 'hello from berth' >"$d/www/index.html"

tmp="$OUT.tmp.$$"
tar -C "$d" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -cf "$tmp" .
mv -f "$tmp" "$OUT"
