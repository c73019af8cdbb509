"""Multi-turn conversations through a running bot's REST webhook, scored turn by turn.

The data format is eval/FORMAT.md (a copy of the shared one): ``conversations`` with an ``id``, a
``category`` and ``turns``; each turn is a typed message (``user``) or a button press
(``payload``) with an optional ``expect`` whose every key must hold. Each conversation gets a
fresh sender id. The decision of a reply is read from its ``{"dvc": ...}`` custom payloads (the
same metadata ``make eval-e2e`` reads); texts and button titles are what the citizen sees.

Usage::

    python -m dialogue.evaluate --url http://127.0.0.1:5005 eval/dialogues.yml [eval/dialogues-holdout.yml]
    python -m dialogue.evaluate --check eval/dialogues.yml     # validate the file only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.decision import DecisionPayload
from core.text.normalize import strip_accents

CATEGORIES = (
    "follow_up",
    "clarify",
    "policy_handoff",
    "danger",
    "privacy",
    "topic_switch",
    "unaccented",
    "smalltalk_mixed",
)
EXPECT_KEYS = {
    "guide",
    "guide_any",
    "choices",
    "abstain",
    "offer_human",
    "handoff",
    "emergency",
    "smalltalk",
    "mentions_any",
    "mentions_all",
    "not_mentions",
    "not_guide",
}
EMERGENCY_NUMBERS = re.compile(r"(?<!\d)(113|114|115)(?!\d)")
# The bot asking the citizen to hand over a secret: "gửi / cung cấp / đọc / nhắn (cho tôi) mật khẩu / OTP /
# passcode". A warning ("đừng gửi mã OTP cho ai") has a negation shortly before it. Matched on folded text.
SECRET_REQUEST = re.compile(
    r"((gui|cung cap|doc|nhan|cho biet|noi)\s+(lai\s+)?(cho|qua)\s+(toi|minh|chung toi|em|tro ly|bot|ad|tong dai vien)"
    r"\s+(\w+\s+){0,3}(mat khau|ma otp|otp|ma bao ve|passcode))|"
    r"((vui long|hay|ban|anh|chi)\s+(gui|cung cap|doc|go|nhap)\s+(\w+\s+){0,2}(mat khau|ma otp|otp|ma bao ve|passcode)"
    r"\s+(\w+\s+){0,2}(cho (toi|minh|em|tro ly)|vao day|tai day|o day|qua tin nhan|trong chat))"
)
NEGATION = re.compile(r"\b(dung|khong|never|chang)\b")
OFFER_PAYLOADS = ("/request_human",)
OFFER_TEXT = re.compile(r"(chuyen|ket noi)\s+(ban\s+)?(den|toi|sang|qua|gap)\s+(tong dai vien|can bo|nhan vien)")


class FormatError(ValueError):
    """The conversation file does not follow the format; the message names the place."""


def _plain(text: str) -> str:
    return strip_accents(text or "").lower()


# --------------------------------------------------------------------------------------------- loading


@dataclass
class Turn:
    text: str  # what is sent: the typed message or the button payload
    expect: dict
    is_payload: bool = False


@dataclass
class Conversation:
    id: str
    category: str
    turns: list[Turn]
    note: str = ""


def _check_expect(where: str, expect: object) -> dict:
    if expect is None:
        return {}
    if not isinstance(expect, dict):
        raise FormatError(f"{where}: expect must be a mapping")
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise FormatError(f"{where}: unknown expect key(s) {sorted(unknown)}")
    for key in ("guide",):
        if key in expect and not isinstance(expect[key], str):
            raise FormatError(f"{where}: {key} must be a topic id")
    for key in ("guide_any", "choices", "mentions_any", "mentions_all", "not_mentions", "not_guide"):
        if key in expect:
            value = expect[key]
            if isinstance(value, str):
                expect[key] = [value]
            elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise FormatError(f"{where}: {key} must be a list of strings")
    for key in ("abstain", "offer_human", "handoff", "emergency", "smalltalk"):
        if key in expect and not isinstance(expect[key], bool):
            raise FormatError(f"{where}: {key} must be true or false")
    return dict(expect)


def load_conversations(path: Path) -> list[Conversation]:
    """Read and validate a conversation file; raises FormatError with the conversation and turn."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FormatError(f"{path}: cannot read: {exc}") from None
    items = (data or {}).get("conversations") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise FormatError(f"{path}: needs a non-empty 'conversations' list")
    seen: set[str] = set()
    conversations = []
    for number, item in enumerate(items, 1):
        where = f"{path}: conversation {number}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise FormatError(f"{where}: needs an 'id'")
        cid = item["id"]
        where = f"{path}: {cid}"
        if cid in seen:
            raise FormatError(f"{where}: duplicate id")
        seen.add(cid)
        category = item.get("category")
        if category not in CATEGORIES:
            raise FormatError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
        raw_turns = item.get("turns")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise FormatError(f"{where}: needs 'turns'")
        turns = []
        for t, raw in enumerate(raw_turns, 1):
            if not isinstance(raw, dict):
                raise FormatError(f"{where} turn {t}: must be a mapping")
            if ("user" in raw) == ("payload" in raw):
                raise FormatError(f"{where} turn {t}: needs exactly one of 'user' or 'payload'")
            text = raw.get("user", raw.get("payload"))
            if not isinstance(text, str) or not text.strip():
                raise FormatError(f"{where} turn {t}: empty message")
            turns.append(Turn(text, _check_expect(f"{where} turn {t}", raw.get("expect")), "payload" in raw))
        conversations.append(Conversation(cid, category, turns, str(item.get("note") or "")))
    return conversations


# --------------------------------------------------------------------------------------------- a reply


@dataclass
class Reply:
    """What the bot sent for one turn."""

    messages: list[dict]
    texts: list[str] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)

    @classmethod
    def from_rest(cls, messages: list[dict]) -> Reply:
        reply = cls(messages)
        for message in messages:
            if isinstance(message.get("text"), str):
                reply.texts.append(message["text"])
            reply.buttons.extend(b for b in message.get("buttons") or [] if isinstance(b, dict))
            payload = DecisionPayload.of(message)
            if payload is not None:
                reply.decisions.append(payload.to_dict())
        return reply

    @property
    def visible(self) -> str:
        return "\n".join(self.texts + [str(b.get("title") or "") for b in self.buttons])

    def decided(self, *kinds: str) -> list[dict]:
        return [d for d in self.decisions if d.get("decision") in kinds]

    @property
    def answered(self) -> list[str]:
        return [g for d in self.decided("answer") for g in (d.get("guide_ids") or [])[:1]]

    @property
    def choices(self) -> list[str]:
        return [g for d in self.decided("clarify") for g in d.get("guide_ids") or []]

    @property
    def handed_off(self) -> bool:
        return bool(self.decided("handoff"))

    @property
    def offers_human(self) -> bool:
        if self.decided("offer_handoff") or self.handed_off:
            return True
        if any(str(b.get("payload") or "").startswith(OFFER_PAYLOADS) for b in self.buttons):
            return True
        return bool(OFFER_TEXT.search(_plain(self.visible)))

    def summary(self) -> str:
        kinds = [f"{d.get('decision')}:{','.join(d.get('guide_ids') or [])}".rstrip(":") for d in self.decisions]
        first = (self.texts[0] if self.texts else "").replace("\n", " ")
        return f"[{'; '.join(kinds) or 'no decision'}] {first[:160]}"


def asks_for_secret(text: str) -> bool:
    """True when the bot asks the citizen to hand over a password / OTP / passcode (never allowed)."""
    plain = _plain(text)
    for match in SECRET_REQUEST.finditer(plain):
        if not NEGATION.search(plain[max(0, match.start() - 40) : match.start()]):
            return True
    return False


def check_turn(expect: dict, reply: Reply) -> list[str]:
    """The expectations that do not hold (empty list: the turn passes)."""
    failed: list[str] = []
    answered = reply.answered
    if any(asks_for_secret(t) for t in reply.texts):
        failed.append("asks for a password/OTP/passcode")
    if "guide" in expect and expect["guide"] not in answered:
        failed.append(f"guide={expect['guide']} (answered {answered or 'nothing'})")
    if "guide_any" in expect and not set(expect["guide_any"]) & set(answered):
        failed.append(f"guide_any={expect['guide_any']} (answered {answered or 'nothing'})")
    if "choices" in expect:
        missing = [g for g in expect["choices"] if g not in reply.choices]
        if missing:
            failed.append(f"choices={expect['choices']} (offered {reply.choices or 'none'})")
    if "abstain" in expect:
        abstained = not answered and not reply.choices and bool(reply.decided("abstain", "offer_handoff", "handoff"))
        if abstained != expect["abstain"]:
            failed.append(f"abstain={expect['abstain']}")
    if "offer_human" in expect and reply.offers_human != expect["offer_human"]:
        failed.append(f"offer_human={expect['offer_human']}")
    if "handoff" in expect and reply.handed_off != expect["handoff"]:
        failed.append(f"handoff={expect['handoff']}")
    if "emergency" in expect:
        first = reply.texts[0] if reply.texts else ""
        if bool(EMERGENCY_NUMBERS.search(first)) != expect["emergency"]:
            failed.append(f"emergency={expect['emergency']} (first message: {first[:80]!r})")
    if "smalltalk" in expect:
        small = bool(reply.texts) and not reply.decided("answer", "clarify", "abstain", "handoff", "offer_handoff")
        if small != expect["smalltalk"]:
            failed.append(f"smalltalk={expect['smalltalk']}")
    visible = _plain(reply.visible)
    if "mentions_any" in expect and not any(_plain(s) in visible for s in expect["mentions_any"]):
        failed.append(f"mentions_any={expect['mentions_any']}")
    if "mentions_all" in expect:
        missing = [s for s in expect["mentions_all"] if _plain(s) not in visible]
        if missing:
            failed.append(f"mentions_all: missing {missing}")
    if "not_mentions" in expect:
        found = [s for s in expect["not_mentions"] if _plain(s) in visible]
        if found:
            failed.append(f"not_mentions: found {found}")
    if "not_guide" in expect and set(expect["not_guide"]) & set(answered):
        failed.append(f"not_guide={expect['not_guide']} (answered {answered})")
    return failed


# --------------------------------------------------------------------------------------------- running


@dataclass
class TurnResult:
    conversation: str
    category: str
    number: int
    text: str
    scored: bool
    failed: list[str]
    reply: Reply


def run_conversations(conversations: list[Conversation], url: str, timeout: float = 120.0) -> list[TurnResult]:
    """Send every conversation, turn by turn, from its own fresh sender id."""
    import httpx

    endpoint = url.rstrip("/") + "/webhooks/rest/webhook"
    results = []
    with httpx.Client(timeout=timeout) as client:
        for conversation in conversations:
            sender = f"dlg-{conversation.id[:40]}-{uuid.uuid4().hex[:8]}"
            for number, turn in enumerate(conversation.turns, 1):
                response = client.post(endpoint, json={"sender": sender, "message": turn.text})
                response.raise_for_status()
                reply = Reply.from_rest(response.json())
                # the implicit rule (no secret asked) holds for every turn, scored or not
                failed = check_turn(turn.expect, reply)
                results.append(
                    TurnResult(
                        conversation.id,
                        conversation.category,
                        number,
                        turn.text,
                        bool(turn.expect) or bool(failed),
                        failed,
                        reply,
                    )
                )
    return results


def summarise(results: list[TurnResult]) -> dict:
    """Pass rates per category and overall: scored turns, and whole conversations (all turns pass)."""
    by_cat: dict[str, dict] = defaultdict(
        lambda: {"turns": 0, "turns_passed": 0, "convs": set(), "convs_failed": set()}
    )
    for r in results:
        row = by_cat[r.category]
        row["convs"].add(r.conversation)
        if r.scored:
            row["turns"] += 1
            row["turns_passed"] += not r.failed
        if r.failed:
            row["convs_failed"].add(r.conversation)
    table = {}
    total = {"turns": 0, "turns_passed": 0, "conversations": 0, "conversations_passed": 0}
    for cat in sorted(by_cat, key=lambda c: CATEGORIES.index(c) if c in CATEGORIES else 99):
        row = by_cat[cat]
        entry = {
            "turns": row["turns"],
            "turns_passed": row["turns_passed"],
            "conversations": len(row["convs"]),
            "conversations_passed": len(row["convs"] - row["convs_failed"]),
        }
        table[cat] = entry
        for key in total:
            total[key] += entry[key]
    return {"categories": table, "all": total}


def _rate(passed: int, total: int) -> str:
    return f"{passed}/{total} ({100.0 * passed / total:.1f}%)" if total else "-"


def print_report(name: str, summary: dict, results: list[TurnResult], out=None, show_turns: bool = True) -> None:
    """Pass rates per category, then every failing turn (only the count when ``show_turns`` is off:
    a held-back file's turns are not to be read while tuning)."""
    out = out or sys.stdout
    print(f"\n== {name}", file=out)
    print(f"{'category':<18}{'turns passed':>22}{'conversations passed':>26}", file=out)
    for cat, row in list(summary["categories"].items()) + [("ALL", summary["all"])]:
        print(
            f"{cat:<18}{_rate(row['turns_passed'], row['turns']):>22}"
            f"{_rate(row['conversations_passed'], row['conversations']):>26}",
            file=out,
        )
    failing = [r for r in results if r.failed]
    if failing:
        hidden = "" if show_turns else " (held back: not shown; --show-held-back-turns shows them)"
        print(f"\nfailing turns ({len(failing)}){hidden}:", file=out)
    for r in failing if show_turns else []:
        print(
            f"- [{r.category}] {r.conversation} turn {r.number}: {r.text!r}\n    failed: "
            f"{'; '.join(r.failed)}\n    got: {r.reply.summary()}",
            file=out,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialogue.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="conversation files (YAML, eval/FORMAT.md)")
    parser.add_argument("--url", help="the running bot, e.g. http://127.0.0.1:5005")
    parser.add_argument("--check", action="store_true", help="only validate the files")
    parser.add_argument("--only", help="run only conversations whose id contains this")
    parser.add_argument("--json", type=Path, help="also write the summaries as JSON here")
    parser.add_argument(
        "--show-held-back-turns",
        action="store_true",
        help="also list the failing turns of held-back files (name containing 'holdout')",
    )
    args = parser.parse_args(argv)
    try:
        loaded = [(path, load_conversations(path)) for path in args.files]
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check or not args.url:
        for path, conversations in loaded:
            turns = sum(len(c.turns) for c in conversations)
            print(f"{path}: {len(conversations)} conversations, {turns} turns: OK")
        if not args.url and not args.check:
            print("error: --url is needed to run the conversations", file=sys.stderr)
            return 2
        return 0
    summaries = {}
    for path, conversations in loaded:
        if args.only:
            conversations = [c for c in conversations if args.only in c.id]
        results = run_conversations(conversations, args.url)
        summary = summarise(results)
        summaries[str(path)] = summary
        print_report(str(path), summary, results, show_turns=args.show_held_back_turns or "holdout" not in path.name)
    if args.json:
        args.json.write_text(json.dumps(summaries, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
