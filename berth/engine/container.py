"""The container record: its immutable config and its mutable state, both stored in the DB."""

from __future__ import annotations

from berth.engine.state import Status
from berth.util import jsonc
from berth.util.record import record


def new_state() -> dict:
    return {"status": Status.CREATED.value, "pid": 0, "conmon_pid": 0, "exit_code": 0,
            "started_at": 0.0, "finished_at": 0.0, "restart_count": 0, "stopped_by_user": False,
            "oom_killed": False, "error": "", "mounted": False}


@record
class Container:
    id: str
    name: str
    image_id: str
    created: float
    config: dict
    state: dict

    @classmethod
    def from_row(cls, row: tuple) -> Container:
        cid, name, image_id, created, config, state = row
        return cls(cid, name, image_id, created, jsonc.loads(config), jsonc.loads(state))

    @property
    def status(self) -> Status:
        return Status(self.state["status"])

    @status.setter
    def status(self, value: Status) -> None:
        self.state["status"] = value.value

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def shown_state(self) -> str:
        """The State word ps/inspect print: created, running, paused, exited."""
        s = self.status
        if s in (Status.STOPPED, Status.EXITED):
            return "exited"
        return s.value
