"""How the ops layer tells the clients of its events (qos/violation,
qos/recovered, canary/update): a callback the front supplies, given the
event's method name and payload. Ops never builds a wire message; the
JSON-RPC front's callback is handlers/notifications.notifier."""

from __future__ import annotations

from collections.abc import Callable

from ..api.messages import Result

Notify = Callable[[str, Result], None]
