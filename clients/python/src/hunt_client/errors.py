"""The one exception the client raises for what the engine or the connection refused."""

from __future__ import annotations


class HuntError(Exception):
    """An engine error (`code` is its stable code: BAD_EVENT, TOO_LARGE, OVERLOADED, ...) or one of
    the client's own: DISCONNECTED (the connection dropped before an answer), CLOSED (the client was
    closed), FENCED (another connection said hello as this producer)."""

    def __init__(self, code: str, message: str, index: int | None = None, owner: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: The event of a pub the engine refused, when it named one.
        self.index = index
        #: NOT_OWNER (cluster mode): the base URL of the host that applies the key's partition.
        self.owner = owner
