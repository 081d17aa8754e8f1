"""asyncio client of the Treasure Hunt Engine's WebSocket protocol (v1)."""

from .client import HuntClient, PublishResult, ReplayStream, Update
from .codec import decode, encode
from .errors import HuntError

__all__ = ["HuntClient", "HuntError", "PublishResult", "ReplayStream", "Update", "decode", "encode"]
