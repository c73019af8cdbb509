"""Ask when a question really fits two guides, and read the citizen's typed answer to "which one?".

* :func:`cue_scores` counts, per guide of a confusable group (dialogue/confusables.yml), the cue
  words a message contains ("trên trang web", "sắp hết hạn", "ở luôn cả năm"), ignoring a cue
  negated around it ("không ra công an", "app vẫn vào bình thường").
* :func:`ambiguous_pair` finds, for a search ranking, a confusable group whose guides are both
  near the top while the message names no cue of either: the bot asks instead of answering one.
* :func:`ordinal_choice` reads "cái đầu", "số 2", "cái sau".
* :func:`distinguishing_overlap` counts the words of a guide's title and tags that the other
  offered guides do not have, found in the reply.

Pure functions (no Rasa, no index); the action puts them together (actions/dialogue_turns.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from core.text.normalize import fold

CONFUSABLES = Path(__file__).with_name("confusables.yml")
# How far below the top guide the other guide of a confusable group may score and still count as
# "fits both" (fused-score units; the calibrated answer margin is ~0.04, typical neighbours differ
# by 0.05-0.15).
AMBIG_MARGIN = 0.10
NEG_BEFORE = re.compile(r"(khong|ko|chua|khoi|chang|dau co|khoi can)( (can|phai|muon|co|ra|den|len|di|dung))*\s*$")
NEG_AFTER = re.compile(
    r"^\s*(\w+\s+){0,2}(van (vao|dung|chay|binh thuong|on|duoc|xai)|binh thuong|khong sao|"
    r"khong bi|khong loi|van con)"
)


@dataclass(frozen=True)
class Group:
    question: str
    labels: dict[str, str]
    cues: dict[str, list[re.Pattern[str]]]
    margin: float = AMBIG_MARGIN

    @property
    def guides(self) -> list[str]:
        return list(self.labels)


@lru_cache(maxsize=4)
def load_groups(path: Path = CONFUSABLES) -> tuple[Group, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    groups = []
    for number, item in enumerate(data.get("groups") or [], 1):
        labels = item.get("labels") or {}
        cues = item.get("cues") or {}
        if len(labels) < 2 or set(cues) - set(labels):
            raise ValueError(f"{path}: group {number} needs labels for 2+ guides and cues only for those")
        groups.append(
            Group(
                str(item.get("question") or ""),
                {str(k): str(v) for k, v in labels.items()},
                {g: [re.compile(r"(?<![\w])(?:" + c + r")(?![\w])") for c in cs] for g, cs in cues.items()},
                float(item.get("margin", AMBIG_MARGIN)),
            )
        )
    return tuple(groups)


def plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text or "")).split())


def cue_scores(text: str, group: Group) -> dict[str, int]:
    """Per guide of ``group``: how many of its cues the message has (negated cues do not count).

    >>> g = [x for x in load_groups() if "vneid_register_level1" in x.labels][0]
    >>> cue_scores("tôi muốn tự làm ở nhà, không ra công an", g)
    {'vneid_register_level1': 2, 'vneid_register_level2': 0}
    """
    message = plain(text)
    scores = {}
    for guide in group.labels:
        count = 0
        for pattern in group.cues.get(guide, []):
            for match in pattern.finditer(message):
                if NEG_BEFORE.search(message[: match.start()]) or NEG_AFTER.match(message[match.end() :]):
                    continue
                count += 1
                break
        scores[guide] = count
    return scores


def cue_winner(text: str, guides: list[str]) -> str | None:
    """The one guide among ``guides`` whose cues the message names more than the others'; None on a tie."""
    best: dict[str, int] = {g: 0 for g in guides}
    for group in load_groups():
        if len(set(group.labels) & set(guides)) < 2:
            continue
        for guide, score in cue_scores(text, group).items():
            if guide in best:
                best[guide] = max(best[guide], score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if ranked and ranked[0][1] > 0 and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        return ranked[0][0]
    return None


def ambiguous_pair(
    text: str, ranking: list[tuple[str, float]], margin: float = AMBIG_MARGIN
) -> tuple[Group, list[str]] | str | None:
    """For a search ranking ``[(guide, score)]``, best first:

    * ``(group, [guide, guide])`` when the top guide belongs to a confusable group whose other
      guide scores within ``margin`` and the message names no cue of either: ask;
    * a guide id when the message's cues name exactly one of the close group guides: answer that
      one (a message naming cues of both, "mã bảo vệ … có giống mật khẩu đăng nhập không", keeps
      the search's decision);
    * None otherwise (the normal decision stands).
    """
    if not ranking:
        return None
    top, top_score = ranking[0]
    scores = dict(ranking)
    for group in load_groups():
        if top not in group.labels:
            continue
        close = [g for g in group.labels if g in scores and scores[g] >= top_score - min(margin, group.margin)]
        if len(close) < 2:
            continue
        cues = cue_scores(text, group)
        named = {g: cues.get(g, 0) for g in close}
        best = max(named.values())
        winners = [g for g, n in named.items() if n == best]
        if best > 0 and len(winners) == 1:
            named_any = [g for g, n in named.items() if n > 0]
            return winners[0] if len(named_any) == 1 else None
        if best == 0:
            return group, sorted(close, key=lambda g: -scores[g])
    return None


# How far below the top a guide sharing the named key thing may score and still make the question
# ambiguous (tighter than a hand-written group: nobody vouched that these two differ).
SHARED_MARGIN = 0.06


def shared_thing_choices(
    text: str,
    ranking: list[tuple[str, float]],
    named: list[frozenset[str]],
    descriptions: dict[str, str],
    margin: float = SHARED_MARGIN,
) -> list[str] | None:
    """Guides to ask between when the key thing the message names is covered by several close guides.

    Beyond the hand-written groups: "làm thẻ căn cước trên vneid" names the ID card, which the
    card-reissue guide and the card-for-a-child guide both cover; both rank close; nothing in the
    message tells them apart: ask. ``named`` holds, per specific key thing the message names, the
    guides that cover it (``KeyTerms.coverage`` inverted); ``descriptions`` a guide's title and tags.

    No question is asked when another key thing named is covered by only some of them, or when the
    message has two more words of one guide's description (that the others lack) than of the
    others': the search decides. (One word is not enough: "thẻ" is in one title and not the other.)

    >>> shared_thing_choices("làm thẻ căn cước trên vneid", [("a", 0.62), ("b", 0.60), ("c", 0.40)],
    ...                      [frozenset({"a", "b"})], {"a": "Cấp đổi thẻ căn cước", "b": "Căn cước cho trẻ em"})
    ['a', 'b']
    >>> shared_thing_choices("làm thẻ căn cước cho trẻ em", [("a", 0.62), ("b", 0.60)],
    ...                      [frozenset({"a", "b"})], {"a": "Cấp đổi thẻ căn cước", "b": "Căn cước cho trẻ em"})
    """
    if len(ranking) < 2 or not named:
        return None
    top, top_score = ranking[0]
    close = [g for g, score in ranking[:4] if score >= top_score - margin]
    for covers in named:
        both = [g for g in close if g in covers]
        if top not in both or len(both) < 2:
            continue
        if any(0 < len([g for g in both if g in other]) < len(both) for other in named):
            return None
        overlap = sorted(distinguishing_overlap(text, {g: descriptions.get(g, "") for g in both}).values())
        if overlap[-1] - overlap[0] >= 2:
            return None
        return both[:3]
    return None


def group_for(guides: list[str]) -> Group | None:
    for group in load_groups():
        if set(guides) <= set(group.labels):
            return group
    return None


ORDINALS = [
    (
        re.compile(
            r"(?<![\w])(cai |so |muc |lua chon |y )?(dau|dau tien|thu nhat|1|mot|tren|phia tren|ben tren)(?![\w])"
        ),
        0,
    ),
    (
        re.compile(
            r"(?<![\w])(cai |so |muc |lua chon |y )?(thu hai|thu 2|2|hai|sau|duoi|phia duoi|ben duoi|thu hai)(?![\w])"
        ),
        1,
    ),
    (re.compile(r"(?<![\w])(cai |so |muc |lua chon |y )?(thu ba|thu 3|3|ba|cuoi|cuoi cung)(?![\w])"), 2),
]


def ordinal_choice(text: str, count: int) -> int | None:
    """Index chosen by an ordinal reply ("cái đầu", "số 2"); only for short replies.

    >>> ordinal_choice("cái thứ 2 nhé", 2)
    1
    >>> ordinal_choice("mình dùng máy tính", 2)
    """
    message = plain(text)
    words = message.split()
    if not 0 < len(words) <= 5:
        return None
    for pattern, index in ORDINALS:
        if index < count and re.fullmatch(
            r"((cai|chon|lay|toi|minh|em|la|so|muc)\s+)*"
            + pattern.pattern
            + r"(\s+(a|nhe|nha|di|thoi|ha|ban|ay|do|nay|vay))*",
            message,
        ):
            return index
    return None


def distinguishing_overlap(text: str, descriptions: dict[str, str]) -> dict[str, int]:
    """Per guide: words of its description (title, tags) found in the reply and in no other guide's.

    >>> distinguishing_overlap("thường trú ấy", {"a": "Đăng ký tạm trú", "b": "Đăng ký thường trú"})
    {'a': 0, 'b': 1}
    """
    reply = set(plain(text).split())
    words = {g: set(plain(d).split()) for g, d in descriptions.items()}
    result = {}
    for guide, own in words.items():
        others = set().union(*(w for g, w in words.items() if g != guide)) if len(words) > 1 else set()
        result[guide] = len((own - others) & reply)
    return result
