"""Redaction at the edge: every channel applies ``core.privacy.redact_user_text`` to a citizen's text
before storing it or handing it to Rasa (passwords, OTPs and passcodes become ``[đã ẩn]``, payloads pass
unchanged) and flags the UserMessage metadata with ``"redacted": true`` (``mark_redacted``).
:func:`redacting` does it for channels whose request handling we do not write ourselves (socket.io).
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from core.privacy import mark_redacted, redact_user_text

logger = logging.getLogger(__name__)


def redacting(
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
) -> Callable[[UserMessage], Awaitable[Any]]:
    """Wraps a channel's ``on_new_message`` so that every UserMessage is redacted first.

    For channels whose request handling we do not write ourselves (socket.io). Rasa
    logs and stores the message only after ``on_new_message`` is called.
    """

    async def handler(message: UserMessage) -> Any:
        text, redacted = redact_user_text(message.text)
        message.text = text
        message.metadata = mark_redacted(message.metadata, redacted)
        return await on_new_message(message)

    return handler
