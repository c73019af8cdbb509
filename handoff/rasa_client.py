"""The few Rasa HTTP API calls the agent console needs (Rasa runs with --enable-api).

* read a conversation: ``GET /conversations/{id}/tracker``;
* write into it and deliver to the citizen's own channel: ``POST /conversations/{id}/tracker/events
  ?output_channel=<channel>&execute_side_effects=true``. Rasa appends the events, then sends every
  ``bot`` event among them through ``<channel>``'s output channel (``InputChannel.get_output_channel``).
  REST (``bot.channels.rest``) cannot push to the citizen, so its output channel is an outbox: the
  message starts the response to the citizen's next message, or is fetched with
  ``GET /webhooks/rest/messages``. Channels with no output channel of their own fall back to a
  collecting channel: the message is recorded in the tracker but not delivered.

An agent's reply is ``{"event": "bot", "text": ..., "data": {"custom": {"human_agent": true}}}``:
the channels send the text once, marked as a human agent's (Messenger's HUMAN_AGENT tag, the web
chat's "Tổng đài viên" label). A ``text`` inside ``custom`` as well would be sent twice, because
Rasa's ``OutputChannel.send_response`` sends the text and then the custom payload.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

# Channels whose output channel can send a message the citizen did not just ask for ("rest": into the
# REST outbox, delivered with the citizen's next response or GET /webhooks/rest/messages).
PUSH_CHANNELS = {
    "webchat",
    "socketio",
    "zalo",
    "messenger",
    "rest",
    "facebook",
    "telegram",
    "slack",
    "callback",
    "twilio",
    "botframework",
    "mattermost",
    "rocketchat",
    "hangouts",
}


class RasaError(RuntimeError):
    pass


def agent_reply_event(text: str) -> dict:
    return {"event": "bot", "text": text, "data": {"custom": {"human_agent": True}}}


def resume_events(utterance: str, text: str) -> list[dict]:
    """The bot says ``text`` (as response ``utterance``), then answers again from the next message."""
    return [
        {"event": "action", "name": utterance},
        {"event": "bot", "text": text},
        {"event": "resume"},
        {"event": "action", "name": "action_listen"},
    ]


def delivery_for(channel: str | None) -> str:
    return "pushed" if (channel or "") in PUSH_CHANNELS else "recorded"


class RasaClient:
    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = 15.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _params(self, **extra: Any) -> dict:
        params = {k: v for k, v in extra.items() if v is not None}
        if self.token:
            params["token"] = self.token
        return params

    def _url(self, sender_id: str, suffix: str) -> str:
        return f"{self.base_url}/conversations/{quote(sender_id, safe='')}/{suffix}"

    async def tracker(self, sender_id: str) -> dict:
        try:
            response = await self._client.get(
                self._url(sender_id, "tracker"), params=self._params(include_events="ALL")
            )
        except httpx.HTTPError as exc:
            raise RasaError(f"Rasa unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise RasaError(f"Rasa answered {response.status_code} reading the conversation")
        return response.json()

    async def append(self, sender_id: str, events: list[dict], channel: str | None) -> dict:
        """Append ``events`` and deliver their bot messages through ``channel``."""
        try:
            response = await self._client.post(
                self._url(sender_id, "tracker/events"),
                json=events,
                params=self._params(
                    output_channel=channel or "latest", execute_side_effects="true", include_events="NONE"
                ),
            )
        except httpx.HTTPError as exc:
            raise RasaError(f"Rasa unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise RasaError(f"Rasa answered {response.status_code} writing into the conversation")
        return response.json()
