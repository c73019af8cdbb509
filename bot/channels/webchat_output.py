"""What the web chat widget receives: Rasa's replies appended to the sender's mailbox as events.

Text, buttons (payload or URL), images; a human agent's message is shown as from a "Tổng đài viên";
custom payloads (``{"dvc": ...}`` decision metadata, unknown payloads) are never shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.channels.delivery import button_payload, button_url
from bot.channels.mailbox import Mailbox
from bot.channels.webhook import is_human_agent
from bot.channels.messages import AGENT_LABEL

logger = logging.getLogger(__name__)

CHANNEL_NAME = "webchat"
MAX_BOT_TEXT_CHARS = 20_000
MAX_BUTTONS = 20


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^https?://[^\s]+$", value, re.I) is not None


def normalize_buttons(buttons: Any) -> list[dict[str, str]]:
    """Buttons as the widget shows them: ``{title, payload}`` or ``{title, url}``.

    Link buttons with anything but an http(s) URL are dropped.
    """
    result: list[dict[str, str]] = []
    if not isinstance(buttons, list):
        return result
    for b in buttons[:MAX_BUTTONS]:
        if not isinstance(b, Mapping):
            continue
        title = " ".join(str(b.get("title") or "").split())
        url = button_url(b)
        if url is not None:
            if not _is_http_url(url):
                logger.warning("Web chat: dropping a link button with URL %.80r", url)
                continue
            result.append({"title": title or url, "url": url})
            continue
        payload = button_payload(b)
        if not payload and not title:
            continue
        result.append({"title": title or payload, "payload": payload})
    return result


class WebChatOutput(OutputChannel):
    """Appends every bot message to the recipient's mailbox."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def _append(self, recipient_id: str, **event: Any) -> None:
        text = event.get("text")
        if isinstance(text, str):
            text = text.strip()
            if len(text) > MAX_BOT_TEXT_CHARS:
                text = text[:MAX_BOT_TEXT_CHARS].rstrip() + " …"
            event["text"] = text
        if event.get("type") == "agent":
            event["label"] = AGENT_LABEL
        if not event.get("text") and not event.get("buttons") and not event.get("image"):
            return
        self.mailbox.append(str(recipient_id), event)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        kind = "agent" if is_human_agent(kwargs) else "bot"
        self._append(recipient_id, type=kind, text=str(text or ""))

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        kind = "agent" if is_human_agent(kwargs) else "bot"
        self._append(
            recipient_id,
            type=kind,
            text=str(text or ""),
            buttons=normalize_buttons(buttons),
        )

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        if not _is_http_url(image):
            logger.warning("Web chat: ignoring an image that is not an http(s) URL.")
            return
        self._append(recipient_id, type="bot", image=image)

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        if isinstance(attachment, str) and attachment.strip():
            self._append(recipient_id, type="bot", text=attachment)
        else:
            logger.debug("Web chat: ignoring a structured attachment.")

    async def send_agent_message(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """A human agent's reply, shown with the label "Tổng đài viên"."""
        self._append(
            recipient_id,
            type="agent",
            text=str(text or ""),
            buttons=normalize_buttons(buttons or []),
        )

    async def send_custom_json(self, recipient_id: str, json_message: Any, **kwargs: Any) -> None:
        """``{"human_agent": true, "text": ...}`` is an agent message; the rest
        (``{"dvc": ...}`` decision metadata, unknown payloads) is never shown."""
        if not isinstance(json_message, dict):
            logger.debug("Web chat: ignoring a non-object custom payload.")
            return
        if json_message.get("human_agent"):
            text = json_message.get("text")
            if text:
                await self.send_agent_message(recipient_id, str(text), json_message.get("buttons"))
            return
        logger.debug("Web chat: not showing custom payload %s.", list(json_message))
