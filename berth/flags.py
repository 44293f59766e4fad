"""The global flags that take a value: the CLI's parser skips them to find the command, and the
command lines berth writes for later (exit commands, systemd units) are read back with them."""

GLOBAL_VALUE_FLAGS = frozenset({"--root", "--runroot", "--runtime", "--storage-driver", "--storage-opt", "--log-level",
                                "--cgroup-manager", "--events-backend", "--tmpdir"})
