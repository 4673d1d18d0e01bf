"""The optional WebSocket server: ``/api/ws/realtime`` (PROTOCOL.md) on an engine."""

from workspace.server.app import RealtimeServer
from workspace.server.limits import ServerLimits

__all__ = ["RealtimeServer", "ServerLimits"]
