"""One exception hierarchy for the whole engine.

The CLI maps these to Podman's exit codes (125 engine error, 126 cannot invoke,
127 not found); the API layer maps them to HTTP statuses.  Messages follow
Podman's wording where Podman has one, because scripts grep for them.
"""

from __future__ import annotations


class BerthError(Exception):
    """Root of every error berth raises on purpose."""

    exit_code = 125
    http_status = 500

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(BerthError):
    http_status = 404


class NoSuchContainer(NotFound):
    pass


class NoSuchImage(NotFound):
    pass


class AlreadyExists(BerthError):
    http_status = 409


class InvalidArgument(BerthError):
    http_status = 400


class FailedPrecondition(BerthError):
    """The object is in a state that does not allow the operation."""

    http_status = 409


class Unavailable(BerthError):
    http_status = 503


class StorageError(BerthError):
    pass


class UnsafeArchive(StorageError):
    """A tar stream tried to write outside its destination."""

    http_status = 400


class RuntimeFailure(BerthError):
    """The OCI runtime or conmon failed."""


class CommandNotFound(RuntimeFailure):
    """The container's command does not exist in the image (exit 127)."""

    exit_code = 127


class CommandNotExecutable(RuntimeFailure):
    """The container's command exists but cannot be run (exit 126)."""

    exit_code = 126


class ContainerExit(Exception):
    """Not an error: carries a container's own exit code up to the CLI."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
