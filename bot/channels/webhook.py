"""What the custom Zalo OA and Facebook Messenger channels do alike.

:class:`WebhookOutput` and :class:`WebhookInput` hold chunked sending, buttons with a numbered fallback,
signed webhooks, dedupe and background processing; the subclasses in ``zalo.py`` and ``messenger.py``
supply the platform formats and checks. Nothing here performs I/O or creates network clients at import.
"""

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.config import MAX_WEBHOOK_BODY_BYTES
from bot.channels.delivery import (
    NON_TEXT_REPLY,
    ChoiceMemory,
    numbered_list,
    split_text,
)
from bot.channels.guard import Rejected, check_body, max_text_chars
from bot.channels.http_utils import HttpClient, json_error
from bot.channels.outbox import Attempt, Outbox
from core.privacy import mark_redacted, redact_user_text
from bot.channels.tasks import BackgroundTasks

logger = logging.getLogger(__name__)


def is_human_agent(kwargs: Mapping[str, Any]) -> bool:
    """True if a response was written by a human agent (flag or custom payload)."""
    if kwargs.get("human_agent"):
        return True
    custom = kwargs.get("custom")
    return isinstance(custom, dict) and bool(custom.get("human_agent"))


def dict_field(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``event[key]`` if it is an object, else an empty dict."""
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def first_id(event: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    """The ``id`` of the first object among ``event[key]`` (for ``keys``) that has one."""
    for key in keys:
        value = event.get(key)
        if isinstance(value, dict) and value.get("id"):
            return str(value["id"])
    return None


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WebhookOutput(OutputChannel):
    """What the Zalo and Messenger senders share.

    Text is split into chunks of ``max_text_length``; buttons are sent in the
    platform's format when :meth:`_buttons_fit`, else as a numbered list whose
    answers :class:`ChoiceMemory` maps back to payloads. Subclasses send one
    platform ``message`` object in :meth:`_send_object` and build the
    button/image/custom messages. ``human_agent`` (see :func:`is_human_agent`)
    is handed to :meth:`_send_object`; a platform without agent tags ignores it.
    """

    channel_name: ClassVar[str]
    # Name in log messages ("Zalo", "Messenger").
    channel_title: ClassVar[str]
    config_class: ClassVar[Any]
    log: ClassVar[logging.Logger] = logger
    max_text_length: ClassVar[int]
    # Text of a button message when the response has buttons but no text.
    buttons_default_text: ClassVar[str] = ""
    # Custom payload keys holding a raw platform message (first truthy one wins).
    raw_message_keys: ClassVar[tuple[str, ...]] = ()
    # Keys copied from a custom payload that has "text" or "attachment".
    custom_message_keys: ClassVar[tuple[str, ...]] = ("text", "attachment")

    @classmethod
    def name(cls) -> str:
        return cls.channel_name

    @classmethod
    def platform_id(cls, recipient_id: str) -> str:
        """The platform's user id in a conversation id (``zalo:123`` -> ``123``)."""
        prefix = f"{cls.channel_name}:"
        text = str(recipient_id)
        return text[len(prefix) :] if text.startswith(prefix) else text

    def __init__(
        self,
        config: Any = None,
        choices: ChoiceMemory | None = None,
        outbox: Outbox | None = None,
        http: HttpClient | None = None,
    ) -> None:
        super().__init__()
        self.config = config or self.config_class.from_credentials(None)
        self.choices = choices or ChoiceMemory()
        self.outbox = outbox
        self.http = http

    @property
    def dry_run(self) -> bool:
        raise NotImplementedError

    async def _send_object(self, recipient_id: str, message: dict[str, Any], human_agent: bool) -> bool:
        """Sends one platform ``message`` object: logged in dry-run mode, else through the outbox
        (stored, sent, retried; bot/channels/outbox.py) or, without one, in one attempt."""
        if self.dry_run:
            self.log.debug(
                "[%s dry-run] would send to %s%s: %s",
                self.channel_name,
                recipient_id,
                " (human agent)" if human_agent else "",
                json.dumps(message, ensure_ascii=False)[:500],
            )
            return True
        if self.outbox is not None:
            return await self.outbox.send(recipient_id, message, human_agent)
        return (await self.send_once(recipient_id, message, human_agent)).outcome == "sent"

    # -- platform specifics ------------------------------------------------- #

    async def send_once(self, recipient_id: str, message: dict[str, Any], human_agent: bool = False) -> Attempt:
        """One call to the platform's send API (no retry of its own)."""
        raise NotImplementedError

    def _buttons_fit(self, buttons: list[dict[str, Any]]) -> bool:
        raise NotImplementedError

    def _buttons_message(self, text: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def _image_message(self, image: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _send_custom(self, recipient_id: str, json_message: dict[str, Any]) -> bool:
        raise NotImplementedError

    # -- OutputChannel API -------------------------------------------------- #

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> bool:
        human_agent = is_human_agent(kwargs)
        ok = True
        for chunk in split_text(text, self.max_text_length):
            ok = await self._send_object(recipient_id, {"text": chunk}, human_agent) and ok
        return ok

    async def send_agent_message(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Sends a human agent's reply (with the platform's agent tag, if any)."""
        if buttons:
            return await self.send_text_with_buttons(recipient_id, text, buttons, human_agent=True)
        return await self.send_text_message(recipient_id, text, human_agent=True)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> bool:
        human_agent = is_human_agent(kwargs)
        if not buttons:
            return await self.send_text_message(recipient_id, text, human_agent=human_agent)
        if not self._buttons_fit(buttons):
            self.choices.remember(self.platform_id(recipient_id), buttons)
            return await self.send_text_message(recipient_id, numbered_list(text, buttons), human_agent=human_agent)
        chunks = split_text(text, self.max_text_length) or [self.buttons_default_text]
        ok = True
        for chunk in chunks[:-1]:
            ok = await self._send_object(recipient_id, {"text": chunk}, human_agent) and ok
        message = self._buttons_message(chunks[-1], buttons)
        self.choices.forget(self.platform_id(recipient_id))
        return await self._send_object(recipient_id, message, human_agent) and ok

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> bool:
        return await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> bool:
        return await self._send_object(recipient_id, self._image_message(image), is_human_agent(kwargs))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> bool:
        """Custom payloads; see the subclass's ``_send_custom``."""
        if not isinstance(json_message, dict):
            self.log.warning("Ignoring non-dict custom payload for %s.", self.channel_title)
            return False
        return await self._send_custom(recipient_id, json_message)

    async def _send_custom_content(self, recipient_id: str, json_message: dict[str, Any], human_agent: bool) -> bool:
        """Sends a raw platform message found in a custom payload, else ignores it.

        Never dumps the payload as JSON to citizens.
        """
        raw = None
        for key in self.raw_message_keys:
            raw = json_message.get(key)
            if raw:
                break
        if isinstance(raw, dict):
            return await self._send_object(recipient_id, raw, human_agent)
        if "text" in json_message or "attachment" in json_message:
            message = {k: json_message[k] for k in self.custom_message_keys if k in json_message}
            return await self._send_object(recipient_id, message, human_agent)
        self.log.debug(
            "Ignoring custom payload without %s content: %s",
            self.channel_title,
            list(json_message),
        )
        return True


class WebhookInput(InputChannel):
    """What the Zalo and Messenger webhooks share.

    Routes (below ``/webhooks/<channel_name>``): ``GET /`` health,
    ``GET /webhook`` (:meth:`_webhook_get`) and ``POST /webhook``
    (:meth:`_receive`, which subclasses implement with the helpers here:
    signature check, JSON decoding, dedupe, background processing).
    """

    channel_name: ClassVar[str]
    # Name in log messages ("Zalo", "Messenger").
    channel_title: ClassVar[str]
    config_class: ClassVar[Any]
    log: ClassVar[logging.Logger] = logger
    # Webhook signature: header, env var of the key, how the key is named in
    # the "not configured" error, and the HTTP status of signature failures.
    signature_header: ClassVar[str]
    secret_env_var: ClassVar[str]
    secret_description: ClassVar[str]
    signature_failure_status: ClassVar[int]
    # Route name of ``GET /webhook``.
    webhook_get_route: ClassVar[str] = "webhook_info"

    @classmethod
    def name(cls) -> str:
        return cls.channel_name

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "WebhookInput":
        return cls(cls.config_class.from_credentials(credentials))

    @classmethod
    def conversation_id(cls, platform_id: str | None) -> str | None:
        """Rasa's sender id for a platform user: namespaced (``zalo:123``), so that no other
        channel's id can name this conversation (and the REST channel refuses the prefix)."""
        return f"{cls.channel_name}:{platform_id}" if platform_id else None

    def __init__(self, config: Any = None) -> None:
        from bot.channels.dedupe import SeenEvents  # it imports this module

        self.config = config or self.config_class.from_credentials(None)
        self.choices = ChoiceMemory(self.config.dedup_capacity)
        self.seen_events = SeenEvents(self.channel_name, self.config.dedup_capacity)
        self.background = BackgroundTasks()
        # One pooled HTTP session per channel; replies go through a durable outbox (bot/channels/outbox.py).
        self.http = HttpClient()
        self.outbox: Outbox | None = None
        dry_run = self.get_output_channel().dry_run
        if not dry_run:
            self.outbox = Outbox.from_environment(self.channel_name, self._send_once, self.config.timeout)
        if not self.signing_secret:
            self.log.warning(
                "%s is not set: the %s webhook will reject every event (signatures cannot be verified).",
                self.secret_env_var,
                self.channel_title,
            )
        self._warn_config()
        if dry_run:
            self.log.info(
                "%s channel in dry-run mode: replies are logged, not sent.",
                self.channel_title,
            )

    @property
    def signing_secret(self) -> str | None:
        """The key webhook signatures are checked with."""
        raise NotImplementedError

    def _warn_config(self) -> None:
        """Logs further configuration problems at start-up (default: none)."""

    def get_output_channel(self) -> WebhookOutput:
        raise NotImplementedError

    async def _send_once(self, recipient_id: str, message: dict[str, Any], human_agent: bool) -> Attempt:
        return await self.get_output_channel().send_once(recipient_id, message, human_agent)

    async def start(self) -> None:
        """When the server starts: the outbox worker (it also sends what a previous run left pending)."""
        if self.outbox is not None:
            self.outbox.start()

    async def stop(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
        await self.http.close()

    async def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Waits for background processing of received events to finish."""
        await self.background.wait_idle(timeout)

    # -- handlers (run in the background) ------------------------------------ #

    async def _handle_text(
        self,
        on_new_message: OnNewMessage,
        sender_id: str,
        text: str,
        message_id: str | None,
        metadata: dict[str, Any],
        resolve_numbers: bool = True,
    ) -> None:
        if resolve_numbers:
            resolved = self.choices.resolve(self.get_output_channel().platform_id(sender_id), text)
            if resolved is not None:
                text = resolved
        await on_new_message(
            UserMessage(
                text,
                self.get_output_channel(),
                sender_id,
                input_channel=self.name(),
                message_id=message_id,
                metadata=metadata,
            )
        )

    async def _reply_non_text(self, sender_id: str) -> None:
        await self.get_output_channel().send_text_message(sender_id, NON_TEXT_REPLY)

    def _submit_text(
        self,
        on_new_message: OnNewMessage,
        sender_id: str,
        text: str,
        message_id: str | None,
        metadata: dict[str, Any],
        description: str,
        resolve_numbers: bool = True,
    ) -> None:
        """Hands the text to Rasa after the response, in order per sender.

        Secrets in the text are redacted first (:func:`redact_user_text`; button
        payloads pass unchanged) and ``metadata["redacted"]`` is set if any was, so
        neither Rasa's tracker, its NLU nor the logs see them. A numbered answer
        ("2") is never changed by redaction, so :class:`ChoiceMemory` still maps it.
        """
        # The platform already took the message: over-long text is cut, not refused, before NLU.
        text = text[: max_text_chars()]
        text, redacted = redact_user_text(text)
        metadata = mark_redacted(metadata, redacted) or {}
        self.background.submit(
            sender_id,
            lambda: self._handle_text(on_new_message, sender_id, text, message_id, metadata, resolve_numbers),
            description,
        )

    def _submit_non_text(self, sender_id: str, description: str) -> None:
        """Answers a sticker/image/file/... with :data:`NON_TEXT_REPLY`."""
        self.background.submit(sender_id, lambda: self._reply_non_text(sender_id), description)

    # -- blueprint -------------------------------------------------------------- #

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook_blueprint = Blueprint(f"{self.channel_name}_webhook", type(self).__module__)

        @webhook_blueprint.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            await self.start()

        @webhook_blueprint.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            await self.stop()

        @webhook_blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": self.channel_name})

        @webhook_blueprint.route("/webhook", methods=["GET"], name=self.webhook_get_route)
        async def webhook_get(request: Request) -> HTTPResponse:
            return self._webhook_get(request)

        @webhook_blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                check_body(request, MAX_WEBHOOK_BODY_BYTES)
            except Rejected as exc:
                self.log.warning("%s webhook: %s.", self.channel_title, exc.error)
                return json_error(exc.status, exc.error, exc.message)
            try:
                return self._receive(request, on_new_message)
            except Exception:  # pragma: no cover - last line of defence
                self.log.exception("Unexpected error in %s webhook.", self.channel_title)
                return json_error(400, "bad_request", "Could not process the event.")

        return webhook_blueprint

    def _webhook_get(self, request: Request) -> HTTPResponse:
        return response.json({"status": "ok", "channel": self.channel_name})

    def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        raise NotImplementedError

    # -- request helpers ------------------------------------------------------ #

    def _check_signature(self, request: Request, verify: Callable[[str, str], bool]) -> HTTPResponse | None:
        """None if ``verify(header, signing_secret)`` accepts the request's signature.

        Otherwise the error response: the key is not configured, the header is
        missing, or the signature is wrong.
        """
        secret = self.signing_secret
        status = self.signature_failure_status
        if not secret:
            self.log.error(
                "%s webhook: rejecting event, %s not set.",
                self.channel_title,
                self.secret_env_var,
            )
            return json_error(
                status,
                "signature_not_configured",
                f"Webhook {self.secret_description} is not configured.",
            )
        header = request.headers.get(self.signature_header)
        if not header:
            self.log.warning("%s webhook: missing %s header.", self.channel_title, self.signature_header)
            return json_error(status, "missing_signature", f"Header {self.signature_header} is required.")
        if not verify(header, secret):
            self.log.warning("%s webhook: invalid signature.", self.channel_title)
            return json_error(status, "invalid_signature", "Signature verification failed.")
        return None

    def _decode_json(self, raw: bytes) -> tuple[Any, HTTPResponse | None]:
        """(body, None), or (None, the 400 error response) if ``raw`` is not JSON."""
        try:
            return json.loads(raw.decode("utf-8")), None
        except (UnicodeDecodeError, ValueError):
            self.log.warning("%s webhook: malformed JSON body (%d bytes).", self.channel_title, len(raw))
            return None, json_error(400, "invalid_json", "Request body is not valid JSON.")

    def _is_duplicate(self, dedup_key: str) -> bool:
        """True (and logged) if an event with ``dedup_key`` was received before."""
        if self.seen_events.seen(dedup_key):
            self.log.info("%s webhook: duplicate event ignored.", self.channel_title)
            self.log.debug("%s webhook: duplicate key %s.", self.channel_title, dedup_key)
            return True
        return False

    def _channel_metadata(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """``{channel_name: info}`` without the None values (UserMessage metadata)."""
        return {self.channel_name: {k: v for k, v in info.items() if v is not None}}
