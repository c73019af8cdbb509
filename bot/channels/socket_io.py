"""Rasa's socket.io channel with the citizen's secrets redacted before Rasa sees them.

credentials.yml (replaces ``socketio:``; the channel is still named ``socketio`` and takes
the same keys)::

    bot.channels.socket_io.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true

Passwords, OTPs and passcodes in a ``user_uttered`` message are replaced by ``[đã ẩn]``
(``common.redact_user_text``; ``/intent`` payloads pass unchanged) and the metadata gets
``"redacted": true``. Everything else is Rasa's ``SocketIOInput``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint

from bot.channels.common import redacting


class SocketIOInput(RasaSocketIOInput):
    """``socketio`` whose messages pass through :func:`bot.channels.common.redacting`."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(redacting(on_new_message))
