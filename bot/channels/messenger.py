"""Facebook Messenger channel for Rasa (Graph API Send API, webhooks).

credentials.yml::

    bot.channels.messenger.MessengerInput:
      verify_token: ...        # or env FB_VERIFY_TOKEN (webhook GET handshake)
      app_secret: ...          # or env FB_APP_SECRET (X-Hub-Signature-256 key)
      page_access_token: ...   # or env FB_PAGE_ACCESS_TOKEN
      dry_run: false           # or env FB_DRY_RUN

Every key is optional; with no page access token the sender runs in dry-run
mode (logs instead of sending). Rasa's built-in ``facebook`` key names
(``verify``, ``secret``, ``page-access-token``) are accepted as aliases.

Webhook: ``GET/POST /webhooks/messenger/webhook``.
"""

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import config, delivery, http_utils
from bot.channels.config import config_value, str_or_none
from bot.channels.delivery import button_payload, button_url, text_digest, truncate
from bot.channels.http_utils import json_error
from bot.channels.messages import MESSENGER_BUTTONS_TEXT
from bot.channels.outbox import Attempt
from bot.channels.webhook import OnNewMessage, WebhookInput, WebhookOutput, dict_field, first_id
from core.settings import parse_bool

logger = logging.getLogger(__name__)

CHANNEL_NAME = "messenger"

DEFAULT_GRAPH_VERSION = "v19.0"
GRAPH_SEND_URL = "https://graph.facebook.com/{version}/me/messages"

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="

MAX_TEXT_LENGTH = 2000
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_QUICK_REPLY_PAYLOAD = 1000

MESSAGING_TYPE_RESPONSE = "RESPONSE"
MESSAGING_TYPE_TAG = "MESSAGE_TAG"
HUMAN_AGENT_TAG = "HUMAN_AGENT"


@dataclass
class MessengerConfig:
    """Settings of the Messenger channel (credentials.yml keys, else env vars)."""

    verify_token: str | None = None
    app_secret: str | None = None
    page_access_token: str | None = None
    # None = automatic (dry run iff no page token); True forces dry run.
    dry_run: bool | None = None
    graph_version: str = DEFAULT_GRAPH_VERSION
    # Overridable for a local stand-in of the Send API (end-to-end tests); None = Meta's Graph API.
    send_url_override: str | None = None
    timeout: float = config.DEFAULT_HTTP_TIMEOUT_SECONDS
    dedup_capacity: int = config.DEFAULT_DEDUP_CAPACITY

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None = None) -> "MessengerConfig":
        c = credentials or {}
        return cls(
            verify_token=str_or_none(config_value(c, ["verify_token", "verify"], "FB_VERIFY_TOKEN")),
            app_secret=str_or_none(config_value(c, ["app_secret", "secret"], "FB_APP_SECRET")),
            page_access_token=str_or_none(
                config_value(
                    c,
                    ["page_access_token", "page-access-token"],
                    "FB_PAGE_ACCESS_TOKEN",
                )
            ),
            dry_run=parse_bool(config_value(c, ["dry_run"], "FB_DRY_RUN")),
            graph_version=str(config_value(c, ["graph_version"], None, DEFAULT_GRAPH_VERSION)),
            send_url_override=str_or_none(config_value(c, ["send_url"], "FB_SEND_URL")),
        )

    @property
    def send_url(self) -> str:
        return self.send_url_override or GRAPH_SEND_URL.format(version=self.graph_version)


# --------------------------------------------------------------------------- #
# Signature
# --------------------------------------------------------------------------- #


def compute_signature(app_secret: str, raw_body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of the raw body keyed with the app secret."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(header_value: str | None, app_secret: str, raw_body: bytes) -> bool:
    if not header_value:
        return False
    supplied = header_value.strip()
    if not supplied.lower().startswith(SIGNATURE_PREFIX):
        return False
    expected = compute_signature(app_secret, raw_body)
    return hmac.compare_digest(
        (SIGNATURE_PREFIX + supplied[len(SIGNATURE_PREFIX) :].lower()).encode("utf-8"),
        expected.encode("utf-8"),
    )


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


class MessengerOutput(WebhookOutput):
    """Sends messages with the Messenger Send API.

    Bot replies use ``messaging_type: RESPONSE``. Replies written by a human
    agent (``send_agent_message``, or a response whose custom payload contains
    ``"human_agent": true``) use ``messaging_type: MESSAGE_TAG`` with
    ``tag: HUMAN_AGENT`` (allowed up to 7 days after the user's last message;
    the Page needs the Human Agent permission).
    """

    channel_name = CHANNEL_NAME
    channel_title = "Messenger"
    config_class = MessengerConfig
    log = logger
    max_text_length = MAX_TEXT_LENGTH
    buttons_default_text = MESSENGER_BUTTONS_TEXT
    raw_message_keys = ("messenger", "facebook")
    custom_message_keys = ("text", "attachment", "quick_replies")

    config: MessengerConfig

    @property
    def dry_run(self) -> bool:
        return bool(self.config.dry_run) or not self.config.page_access_token

    # -- low level --------------------------------------------------------- #

    async def send_once(self, recipient_id: str, message: dict[str, Any], human_agent: bool = False) -> Attempt:
        """One attempt to send a Messenger ``message`` object; sent if the Send API accepted it."""
        body: dict[str, Any] = {"recipient": {"id": self.platform_id(recipient_id)}}
        if human_agent:
            body["messaging_type"] = MESSAGING_TYPE_TAG
            body["tag"] = HUMAN_AGENT_TAG
        else:
            body["messaging_type"] = MESSAGING_TYPE_RESPONSE
        body["message"] = message
        result = await http_utils.post(
            self.config.send_url,
            json_body=body,
            params={"access_token": self.config.page_access_token or ""},
            timeout=self.config.timeout,
            client=self.http,
        )
        data = result.data or {}
        if 200 <= result.status < 300 and "error" not in data:
            return Attempt("sent", result.status)
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        logger.error(
            "Messenger send to user #%s failed: HTTP %s, code=%s subcode=%s, %s",
            delivery.text_digest(str(recipient_id))[:8],
            result.status,
            error.get("code"),
            error.get("error_subcode"),
            error.get("message") or result.error or "",
        )
        detail = f"code {error.get('code')}: {error.get('message') or result.error or ''}".strip()
        return Attempt.from_http(result.status, detail)

    # -- buttons, images, custom payloads ----------------------------------- #

    @staticmethod
    def quick_replies_fit(buttons: list[dict[str, Any]]) -> bool:
        if not buttons or len(buttons) > MAX_QUICK_REPLIES:
            return False
        for b in buttons:
            if button_url(b):
                return False  # quick replies cannot open links
            if not str(b.get("title") or "").strip():
                return False
            if len(button_payload(b)) > MAX_QUICK_REPLY_PAYLOAD:
                return False
        return True

    @staticmethod
    def build_quick_replies(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "content_type": "text",
                "title": truncate(str(b.get("title")), MAX_QUICK_REPLY_TITLE),
                "payload": button_payload(b),
            }
            for b in buttons
        ]

    def _buttons_fit(self, buttons: list[dict[str, Any]]) -> bool:
        return self.quick_replies_fit(buttons)

    def _buttons_message(self, text: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        return {"text": text, "quick_replies": self.build_quick_replies(buttons)}

    def _image_message(self, image: str) -> dict[str, Any]:
        return {
            "attachment": {
                "type": "image",
                "payload": {"url": image, "is_reusable": True},
            }
        }

    async def _send_custom(self, recipient_id: str, json_message: dict[str, Any]) -> bool:
        """Custom payloads.

        * ``{"human_agent": true, "text": "...", "buttons": [...]}`` - agent reply
          sent with the HUMAN_AGENT tag (``human_agent`` alone is only a flag for
          the response's ``text`` and sends nothing by itself);
        * ``{"messenger": {...}}`` / ``{"facebook": {...}}`` or a dict with
          ``text``/``attachment`` - a raw Messenger ``message`` object;
        * anything else is ignored (never dumped as JSON to citizens).
        """
        human_agent = bool(json_message.get("human_agent"))
        if human_agent and "text" in json_message and "attachment" not in json_message:
            return await self.send_agent_message(recipient_id, str(json_message["text"]), json_message.get("buttons"))
        return await self._send_custom_content(recipient_id, json_message, human_agent)


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #


class _BadPayload(ValueError):
    pass


class MessengerInput(WebhookInput):
    """Receives Messenger webhook events (``/webhooks/messenger/webhook``)."""

    channel_name = CHANNEL_NAME
    channel_title = "Messenger"
    config_class = MessengerConfig
    log = logger
    signature_header = SIGNATURE_HEADER
    secret_env_var = "FB_APP_SECRET"
    secret_description = "app secret"
    signature_failure_status = 403
    webhook_get_route = "verify"

    config: MessengerConfig

    @property
    def signing_secret(self) -> str | None:
        return self.config.app_secret

    def _warn_config(self) -> None:
        if not self.config.verify_token:
            logger.warning("FB_VERIFY_TOKEN is not set: webhook verification will fail.")

    def get_output_channel(self) -> MessengerOutput:
        return MessengerOutput(self.config, self.choices, self.outbox, self.http)

    # -- parsing ---------------------------------------------------------------- #

    @staticmethod
    def _classify(event: dict[str, Any]) -> tuple[str, str | None, str | None]:
        """Returns (kind, text, mid); kind is text|quick_reply|postback|non_text|ignore."""
        message = event.get("message")
        if isinstance(message, dict):
            if message.get("is_echo"):
                return "ignore", None, None
            mid = message.get("mid")
            quick_reply = message.get("quick_reply")
            if isinstance(quick_reply, dict) and quick_reply.get("payload"):
                return "quick_reply", str(quick_reply["payload"]), mid
            text = message.get("text")
            if isinstance(text, str) and text.strip():
                return "text", text, mid
            if message.get("attachments") or message.get("sticker_id"):
                return "non_text", None, mid
            return "ignore", None, mid
        postback = event.get("postback")
        if isinstance(postback, dict):
            payload = postback.get("payload") or postback.get("title")
            if payload:
                return "postback", str(payload), postback.get("mid")
            return "ignore", None, None
        # delivery, read, reaction, optin, referral, account_linking, ...
        return "ignore", None, None

    @staticmethod
    def _iter_events(
        payload: dict[str, Any],
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        entries = payload.get("entry")
        if not isinstance(entries, list):
            raise _BadPayload("Field 'entry' must be a list.")
        events = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise _BadPayload("Every 'entry' item must be an object.")
            messaging = entry.get("messaging", [])
            if not isinstance(messaging, list):
                raise _BadPayload("Field 'entry[].messaging' must be a list.")
            for event in messaging:
                if not isinstance(event, dict):
                    raise _BadPayload("Every 'messaging' item must be an object.")
                events.append((entry, event))
        return events

    # -- requests ------------------------------------------------------------ #

    def _webhook_get(self, request: Request) -> HTTPResponse:
        """The webhook verification handshake (``hub.challenge``)."""
        mode = request.args.get("hub.mode")
        token = request.args.get("hub.verify_token")
        challenge = request.args.get("hub.challenge")
        if not mode or token is None or challenge is None:
            logger.warning("Messenger verification: missing hub.* parameters.")
            return json_error(
                400,
                "missing_parameter",
                "hub.mode, hub.verify_token and hub.challenge are required.",
            )
        if not self.config.verify_token:
            logger.error("Messenger verification: FB_VERIFY_TOKEN not configured.")
            return json_error(403, "verify_token_not_configured", "Verify token is not configured.")
        if mode != "subscribe" or not hmac.compare_digest(
            token.encode("utf-8"), self.config.verify_token.encode("utf-8")
        ):
            logger.warning("Messenger verification: wrong mode or verify token.")
            return json_error(403, "verification_failed", "Invalid hub.mode or hub.verify_token.")
        logger.info("Messenger webhook verified.")
        return response.text(challenge)

    def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        raw = request.body or b""
        rejected = self._check_signature(request, lambda header, secret: verify_signature(header, secret, raw))
        if rejected is not None:
            return rejected

        payload, rejected = self._decode_json(raw)
        if rejected is not None:
            return rejected
        if not isinstance(payload, dict):
            return json_error(400, "invalid_payload", "JSON body must be an object.")
        if payload.get("object") != "page":
            logger.info("Messenger webhook: ignoring object %r.", payload.get("object"))
            return response.json({"status": "ignored"})
        try:
            events = self._iter_events(payload)
        except _BadPayload as e:
            logger.warning("Messenger webhook: %s", e)
            return json_error(400, "invalid_payload", str(e))

        accepted = 0
        for entry, event in events:
            if self._dispatch(entry, event, on_new_message):
                accepted += 1
        return response.json({"status": "EVENT_RECEIVED", "accepted": accepted})

    def _dispatch(
        self,
        entry: dict[str, Any],
        event: dict[str, Any],
        on_new_message: OnNewMessage,
    ) -> bool:
        kind, text, mid = self._classify(event)
        if kind == "ignore":
            return False
        sender_id = self.conversation_id(first_id(event, ("sender",)))
        if not sender_id:
            logger.warning("Messenger webhook: %s event without sender id skipped.", kind)
            return False
        dedup_key = (
            f"mid:{mid}"
            if mid
            # a fingerprint, not the text: the key is logged on duplicates
            else f"{kind}:{sender_id}:{event.get('timestamp')}:{text_digest(text)}"
        )
        if self._is_duplicate(dedup_key):
            return False

        recipient = dict_field(event, "recipient")
        info = {
            "event": kind,
            "page_id": entry.get("id") or recipient.get("id"),
            "timestamp": event.get("timestamp"),
            "mid": mid,
        }
        metadata = self._channel_metadata(info)

        if kind == "non_text":
            self._submit_non_text(sender_id, "Messenger attachment")
            return True
        self._submit_text(
            on_new_message,
            sender_id,
            text or "",
            mid,
            metadata,
            f"Messenger {kind}",
            resolve_numbers=(kind == "text"),
        )
        return True
