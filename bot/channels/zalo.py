"""Zalo Official Account (OA API v3) channel for Rasa.

credentials.yml::

    bot.channels.zalo.ZaloInput:
      app_id: ...            # or env ZALO_APP_ID
      oa_secret_key: ...     # or env ZALO_OA_SECRET_KEY (webhook signature key)
      access_token: ...      # or env ZALO_ACCESS_TOKEN
      refresh_token: ...     # or env ZALO_REFRESH_TOKEN
      app_secret: ...        # or env ZALO_APP_SECRET (secret_key for token refresh)
      dry_run: false         # or env ZALO_DRY_RUN
      token_file: var/zalo_tokens.json   # or env ZALO_TOKEN_FILE

Every key is optional: missing keys fall back to the environment variable, and
with no access token the sender runs in dry-run mode (logs instead of sending),
so a fresh clone without secrets still starts.

Webhook: ``POST /webhooks/zalo/webhook``. Events are verified with the
``X-ZEvent-Signature`` header: ``mac=`` + hex(sha256(app_id + raw body +
timestamp + OA secret key)), where ``timestamp`` is the one in the JSON body.
"""

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import config, delivery, http_utils
from bot.channels.config import config_value, str_or_none
from bot.channels.delivery import ChoiceMemory, button_payload, button_url
from bot.channels.http_utils import json_error
from bot.channels.outbox import Attempt, Outbox
from bot.channels.webhook import OnNewMessage, WebhookInput, WebhookOutput, dict_field, first_id
from bot.channels.zalo_signature import SIGNATURE_HEADER, verify_signature
from bot.channels.zalo_tokens import ZaloTokenStore
from core.settings import parse_bool

logger = logging.getLogger(__name__)

CHANNEL_NAME = "zalo"

ZALO_SEND_URL = "https://openapi.zalo.me/v3.0/oa/message/cs"
ZALO_OAUTH_URL = "https://oauth.zaloapp.com/v4/oa/access_token"
DEFAULT_TOKEN_FILE = "var/zalo_tokens.json"
DEFAULT_FOLLOW_INTENT = "/greet"
DEFAULT_TIMESTAMP_WINDOW = 900.0
# The body fields the signature covers, read from the raw bytes so that nothing unsigned is parsed.
_RAW_FIELD = r'"{}"\s*:\s*"?([^",}}\s]{{1,64}})"?'


MAX_TEXT_LENGTH = 2000
MAX_BUTTONS = 5
MAX_BUTTON_TITLE = 100
MAX_BUTTON_PAYLOAD = 1000

# Error codes meaning "the access token is expired/invalid": -216 is the one
# the OA message API documents ("Access token is invalid" / "has expired");
# -124 and -220 are returned for invalid/expired tokens by other Zalo OA/ZNS
# endpoints. A refresh + single retry is cheap, so all are treated alike.
TOKEN_ERROR_CODES = frozenset({-216, -124, -220})

TEXT_EVENT = "user_send_text"
FOLLOW_EVENT = "follow"
UNFOLLOW_EVENT = "unfollow"
# Events about the OA's own messages or delivery receipts: acknowledged, ignored.
IGNORED_EVENT_PREFIXES = ("oa_send_", "user_received_", "user_seen_")


@dataclass
class ZaloConfig:
    """Settings of the Zalo channel (credentials.yml keys, else env vars)."""

    app_id: str | None = None
    oa_secret_key: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    app_secret: str | None = None
    # None = automatic (dry run iff no usable token); True forces dry run.
    dry_run: bool | None = None
    token_file: str = DEFAULT_TOKEN_FILE
    follow_intent: str = DEFAULT_FOLLOW_INTENT
    send_url: str = ZALO_SEND_URL
    oauth_url: str = ZALO_OAUTH_URL
    timeout: float = config.DEFAULT_HTTP_TIMEOUT_SECONDS
    dedup_capacity: int = config.DEFAULT_DEDUP_CAPACITY
    # Signed events whose timestamp is further than this from now are refused (0 = no check).
    timestamp_window: float = DEFAULT_TIMESTAMP_WINDOW

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None = None) -> "ZaloConfig":
        c = credentials or {}
        try:
            window = float(
                config_value(c, ["timestamp_window"], "ZALO_TIMESTAMP_WINDOW_SECONDS", DEFAULT_TIMESTAMP_WINDOW)
            )
        except (TypeError, ValueError):
            window = DEFAULT_TIMESTAMP_WINDOW
        return cls(
            timestamp_window=window,
            app_id=str_or_none(config_value(c, ["app_id"], "ZALO_APP_ID")),
            oa_secret_key=str_or_none(config_value(c, ["oa_secret_key", "secret_key"], "ZALO_OA_SECRET_KEY")),
            access_token=str_or_none(config_value(c, ["access_token"], "ZALO_ACCESS_TOKEN")),
            refresh_token=str_or_none(config_value(c, ["refresh_token"], "ZALO_REFRESH_TOKEN")),
            app_secret=str_or_none(config_value(c, ["app_secret"], "ZALO_APP_SECRET")),
            dry_run=parse_bool(config_value(c, ["dry_run"], "ZALO_DRY_RUN")),
            token_file=str(config_value(c, ["token_file"], "ZALO_TOKEN_FILE", DEFAULT_TOKEN_FILE)),
            follow_intent=str(config_value(c, ["follow_intent"], None, DEFAULT_FOLLOW_INTENT)),
            # Overridable for a local stand-in of the Zalo API (end-to-end tests).
            send_url=str(config_value(c, ["send_url"], "ZALO_SEND_URL", ZALO_SEND_URL)),
        )


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


class ZaloOutput(WebhookOutput):
    """Sends messages with the Zalo OA "customer service" message API (v3).

    Zalo needs no special tag for a human agent's replies.
    """

    channel_name = CHANNEL_NAME
    channel_title = "Zalo"
    config_class = ZaloConfig
    log = logger
    max_text_length = MAX_TEXT_LENGTH
    raw_message_keys = ("zalo",)

    config: ZaloConfig

    def __init__(
        self,
        config: ZaloConfig | None = None,
        tokens: ZaloTokenStore | None = None,
        choices: ChoiceMemory | None = None,
        outbox: Outbox | None = None,
        http: http_utils.HttpClient | None = None,
    ) -> None:
        super().__init__(config, choices, outbox, http)
        self.tokens = tokens or ZaloTokenStore(self.config)

    @property
    def dry_run(self) -> bool:
        if self.config.dry_run:
            return True
        return not (self.tokens.access_token or self.tokens.can_refresh)

    # -- low level --------------------------------------------------------- #

    async def _call_api(self, token: str, body: dict[str, Any]) -> http_utils.HttpResult:
        return await http_utils.post(
            self.config.send_url,
            json_body=body,
            headers={"access_token": token, "Content-Type": "application/json"},
            timeout=self.config.timeout,
            client=self.http,
        )

    async def send_once(self, recipient_id: str, message: dict[str, Any], human_agent: bool = False) -> Attempt:
        """One attempt to send a Zalo ``message`` object (with one token refresh if Zalo says the
        token expired); sent only if Zalo answers error 0."""
        body = {"recipient": {"user_id": self.platform_id(recipient_id)}, "message": message}
        token = self.tokens.access_token
        if not token:
            token = await self.tokens.refresh(failed_token=None)
            if not token:
                return Attempt("retry", 0, "no access token (refresh failed)")
        result = await self._call_api(token, body)
        code = _error_code(result)
        if code in TOKEN_ERROR_CODES:
            logger.info("Zalo access token rejected (error %s); refreshing.", code)
            new_token = await self.tokens.refresh(failed_token=token)
            if not new_token:
                return Attempt("retry", result.status, f"error {code}: access token rejected, refresh failed")
            result = await self._call_api(new_token, body)
            code = _error_code(result)
        if code == 0:
            return Attempt("sent", result.status)
        data = result.data or {}
        error = data.get("error", result.error)
        logger.error(
            "Zalo send to user #%s failed: HTTP %s, error=%s, message=%s",
            delivery.text_digest(str(recipient_id))[:8],
            result.status,
            error,
            data.get("message", ""),
        )
        detail = f"error {error}: {data.get('message', '')}".strip() if result.data else (result.error or "")
        if result.status == 200 and code is not None:
            return Attempt("failed", result.status, detail)  # Zalo refused it (error != 0)
        return Attempt.from_http(result.status, detail)

    # -- buttons, images, custom payloads ----------------------------------- #

    @staticmethod
    def buttons_fit(buttons: list[dict[str, Any]]) -> bool:
        """True if ``buttons`` can be shown as a Zalo button template."""
        if not buttons or len(buttons) > MAX_BUTTONS:
            return False
        for b in buttons:
            title = str(b.get("title") or "").strip()
            if not title or len(title) > MAX_BUTTON_TITLE:
                return False
            if not button_url(b) and len(button_payload(b)) > MAX_BUTTON_PAYLOAD:
                return False
        return True

    @staticmethod
    def build_buttons(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = []
        for b in buttons:
            title = " ".join(str(b.get("title")).split())
            url = button_url(b)
            if url:
                result.append({"title": title, "type": "oa.open.url", "payload": {"url": url}})
            else:
                result.append(
                    {
                        "title": title,
                        "type": "oa.query.show",
                        "payload": button_payload(b),
                    }
                )
        return result

    def _buttons_fit(self, buttons: list[dict[str, Any]]) -> bool:
        return self.buttons_fit(buttons)

    def _buttons_message(self, text: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "attachment": {
                "type": "template",
                "payload": {"buttons": self.build_buttons(buttons)},
            }
        }
        if text:
            message["text"] = text
        return message

    def _image_message(self, image: str) -> dict[str, Any]:
        return {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "url": image}],
                },
            }
        }

    async def _send_custom(self, recipient_id: str, json_message: dict[str, Any]) -> bool:
        """Custom payloads.

        * ``{"human_agent": true, "text": "...", "buttons": [...]}`` - agent reply
          (``human_agent`` alone is just a flag and sends nothing);
        * ``{"zalo": {...}}`` or ``{"text"/"attachment": ...}`` - a raw Zalo
          ``message`` object;
        * anything else is ignored (never dumped as JSON to citizens).
        """
        if json_message.get("human_agent"):
            text = json_message.get("text")
            if not text:
                return True
            return await self.send_agent_message(recipient_id, str(text), json_message.get("buttons"))
        return await self._send_custom_content(recipient_id, json_message, False)


def _error_code(result: http_utils.HttpResult) -> int | None:
    if result.data is None:
        return None
    try:
        return int(result.data.get("error"))
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #


class ZaloInput(WebhookInput):
    """Receives Zalo OA webhook events (``/webhooks/zalo/webhook``)."""

    channel_name = CHANNEL_NAME
    channel_title = "Zalo"
    config_class = ZaloConfig
    log = logger
    signature_header = SIGNATURE_HEADER
    secret_env_var = "ZALO_OA_SECRET_KEY"
    secret_description = "signature key"
    signature_failure_status = 401

    config: ZaloConfig

    def __init__(self, config: ZaloConfig | None = None) -> None:
        config = config or ZaloConfig.from_credentials(None)
        self.tokens = ZaloTokenStore(config)
        super().__init__(config)

    @property
    def signing_secret(self) -> str | None:
        return self.config.oa_secret_key

    def get_output_channel(self) -> ZaloOutput:
        return ZaloOutput(self.config, self.tokens, self.choices, self.outbox, self.http)

    # -- parsing -------------------------------------------------------------- #

    def _metadata(self, event: dict[str, Any]) -> dict[str, Any]:
        message = dict_field(event, "message")
        recipient = dict_field(event, "recipient")
        info = {
            "event_name": event.get("event_name"),
            "app_id": event.get("app_id"),
            "oa_id": event.get("oa_id") or recipient.get("id"),
            "user_id_by_app": event.get("user_id_by_app"),
            "timestamp": event.get("timestamp"),
            "msg_id": message.get("msg_id"),
        }
        return self._channel_metadata(info)

    # -- requests ------------------------------------------------------------ #

    @staticmethod
    def _raw_fields(raw: bytes, name: str) -> list[str]:
        """The values of ``"name": ...`` in the unparsed body (at most 4 candidates)."""
        text = raw.decode("utf-8", "replace")
        return re.findall(_RAW_FIELD.format(name), text)[:4]

    def _stale(self, timestamp: str) -> bool:
        if not self.config.timestamp_window:
            return False
        try:
            sent = float(timestamp) / 1000.0  # Zalo's timestamps are in milliseconds
        except ValueError:
            return True
        return abs(time.time() - sent) > self.config.timestamp_window

    def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        raw = request.body or b""
        # The signature covers app id + body + timestamp: check it on the raw bytes, parse after.
        stamps = self._raw_fields(raw, "timestamp")
        if not stamps:
            logger.warning("Zalo webhook: event without timestamp.")
            return json_error(400, "missing_field", "Field 'timestamp' is required.")
        app_ids = [self.config.app_id] if self.config.app_id else self._raw_fields(raw, "app_id") or [""]
        signed: list[str] = []

        def verify(header: str, secret: str) -> bool:
            signed.extend(t for a in app_ids for t in stamps if verify_signature(header, a, raw, t, secret))
            return bool(signed)

        rejected = self._check_signature(request, verify)
        if rejected is not None:
            return rejected
        event, rejected = self._decode_json(raw)
        if rejected is not None:
            return rejected
        if not isinstance(event, dict):
            logger.warning("Zalo webhook: JSON body is not an object.")
            return json_error(400, "invalid_payload", "JSON body must be an object.")
        timestamp = str(event.get("timestamp") or "")
        if timestamp not in signed:
            logger.warning("Zalo webhook: the signed timestamp is not the event's.")
            return json_error(401, "invalid_signature", "Signature verification failed.")
        if self._stale(timestamp):
            logger.warning("Zalo webhook: event outside the timestamp window.")
            return json_error(401, "stale_event", "Event timestamp is outside the accepted window.")

        event_name = event.get("event_name")
        if not isinstance(event_name, str) or not event_name:
            logger.warning("Zalo webhook: signed event without event_name.")
            return json_error(400, "missing_field", "Field 'event_name' is required.")

        if event_name.startswith(IGNORED_EVENT_PREFIXES):
            return response.json({"status": "ignored", "event_name": event_name})

        sender_id = self.conversation_id(first_id(event, ("sender", "follower", "user")))
        message = event.get("message")
        if message is not None and not isinstance(message, dict):
            return json_error(400, "invalid_payload", "Field 'message' must be an object.")
        message = message or {}

        if event_name == UNFOLLOW_EVENT:
            logger.debug("Zalo user %s unfollowed the OA.", sender_id)
            return response.json({"status": "ok"})

        if event_name != FOLLOW_EVENT and not event_name.startswith("user_send_"):
            logger.debug("Zalo webhook: ignoring event %s.", event_name)
            return response.json({"status": "ignored", "event_name": event_name})

        if not sender_id:
            logger.warning("Zalo webhook: %s event without sender id.", event_name)
            return json_error(400, "missing_field", "Sender id is required.")

        msg_id = message.get("msg_id")
        dedup_key = f"msg:{msg_id}" if msg_id else f"{event_name}:{sender_id}:{timestamp}"
        if self._is_duplicate(dedup_key):
            return response.json({"status": "duplicate"})

        metadata = self._metadata(event)
        if event_name == TEXT_EVENT:
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                self.seen_events.discard(dedup_key)
                logger.warning("Zalo webhook: user_send_text without text.")
                return json_error(400, "missing_field", "Field 'message.text' is required.")
            self._submit_text(on_new_message, sender_id, text, msg_id, metadata, "Zalo text message")
        elif event_name == FOLLOW_EVENT:
            logger.debug("Zalo user %s followed the OA.", sender_id)
            self.background.submit(
                sender_id,
                lambda: self._handle_text(on_new_message, sender_id, self.config.follow_intent, None, metadata),
                "Zalo follow event",
            )
        else:  # user_send_sticker / image / gif / audio / video / file / ...
            self._submit_non_text(sender_id, f"Zalo {event_name}")
        return response.json({"status": "ok"})
