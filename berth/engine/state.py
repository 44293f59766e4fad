"""Container status and the transitions each verb allows (checked after a refresh)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    CREATED = "created"      # configured, or initialised and not yet started
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"      # the process ended; cleanup (unmount, runtime delete) still due
    EXITED = "exited"        # ended and cleaned up
    REMOVING = "removing"

    def can_start(self) -> bool:
        return self in (Status.CREATED, Status.STOPPED, Status.EXITED)

    def can_stop(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED)

    def can_kill(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED)

    def can_exec(self) -> bool:
        return self is Status.RUNNING

    def can_remove(self) -> bool:
        return self not in (Status.RUNNING, Status.PAUSED)

    def can_pause(self) -> bool:
        return self is Status.RUNNING

    def can_unpause(self) -> bool:
        return self is Status.PAUSED

    def is_alive(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED)
