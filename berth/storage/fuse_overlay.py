"""fuse-overlayfs: overlay in user space, the only module that runs it.

Used where the kernel's overlay cannot be mounted in the user's namespace (kernels before 5.11,
upper directories on filesystems overlay refuses, such as FUSE or NFS) or when the user asks for
it (`--storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs`, as with Podman).  Its on-disk
format is the kernel's: whiteouts are 0:0 character devices and opaque directories carry
user.overlay.opaque, both of which it reads in lower layers and writes in the upper one, so
layers extracted for either serve both.

The program daemonizes once the mount is up.  Unmounting is umount(2) on the merged directory:
berth is root of the mount namespace that holds it (what fusermount3 -u would do for a
non-namespaced user), and the daemon exits as soon as the kernel closes its connection.
"""

from __future__ import annotations

import os

from berth.errors import StorageError

PROGRAM = "fuse-overlayfs"


def find() -> str:
    import shutil  # imported where used: a plain `run` on kernel overlay needs neither module

    return shutil.which(PROGRAM) or ""


def fuse_usable() -> bool:
    """/dev/fuse must be openable (mode 0666 on usual distributions)."""
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


def check_program(path: str) -> str:
    """The configured mount program as an absolute path, or a one-line error naming the fix."""
    import shutil

    resolved = shutil.which(path) if path and "/" not in path else path
    if not resolved or not os.access(resolved, os.X_OK) or os.path.isdir(resolved):
        raise StorageError(f'overlay.mount_program "{path}": no such executable file '
                           "(install it with: sudo apt install fuse-overlayfs)")
    return os.path.abspath(resolved)


def mount(program: str, lowers: list[str], upper: str, work: str, target: str) -> None:
    """Mount target; lowers top first, absolute paths (the daemon does not keep our cwd)."""
    opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    import subprocess

    r = subprocess.run([program, "-o", opts, target], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        # it warns about defaults it does not know ("unknown argument ignored: lazytime") on success too
        lines = [ln for ln in (r.stderr + r.stdout).splitlines() if "unknown argument ignored" not in ln]
        raise StorageError(f"mounting {target} with {program}: {lines[-1] if lines else f'exit {r.returncode}'}")


def version(program: str) -> str:
    import subprocess

    try:
        r = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return "\n".join(ln for ln in (r.stdout + r.stderr).splitlines() if "version" in ln)
