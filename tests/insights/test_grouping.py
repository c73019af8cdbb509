"""insights/grouping.py: similar questions together, unrelated apart, counted once per conversation."""

from __future__ import annotations

import numpy as np

from insights.grouping import EmbeddingVectors, Occurrence, TfidfVectors, cluster, group_questions, question_key

LAND = [
    "làm sổ đỏ online ở đâu",
    "lam so do online o dau",
    "thủ tục làm sổ đỏ online",
    "làm sổ đỏ trực tuyến ở đâu vậy",
]
MARRIAGE = [
    "đăng ký kết hôn online được không",
    "dang ky ket hon online duoc ko",
    "đăng ký kết hôn trên mạng được không ạ",
]
OTHERS = [
    "lương hưu tháng này bao giờ chuyển vào tài khoản",
    "tỷ giá đô la hôm nay bao nhiêu",
    "sang tên xe máy cũ online",
]


def occ(text: str, conversation: str = "c1", kind: str = "abstained", day: str = "2026-11-28", **kw) -> Occurrence:
    return Occurrence(text=text, kind=kind, conversation=conversation, day=day, **kw)


def members(groups) -> list[set[str]]:
    return [{o.text for o in g.occurrences} for g in groups]


def test_paraphrases_group_together_and_unrelated_questions_stay_apart():
    occurrences = [occ(t, f"c{i}") for i, t in enumerate(LAND + MARRIAGE + OTHERS)]
    groups = group_questions(occurrences, TfidfVectors(), TfidfVectors.threshold)
    found = members(groups)
    assert set(LAND) in found
    assert set(MARRIAGE) in found
    for text in OTHERS:
        assert {text} in found
    assert len(groups) == 2 + len(OTHERS)
    assert groups[0].count == 4 and groups[0].representative in LAND  # biggest first


def test_counts_conversations_records_kinds_examples_and_days():
    occurrences = [
        occ("Làm sổ đỏ online ở đâu?", "c1", "abstained", "2026-11-20", guesses=[{"id": "uncovered_land"}]),
        occ("lam so do online o dau", "c1", "offered_handoff", "2026-11-20"),  # same question, same conversation
        occ("làm sổ đỏ online ở đâu", "c1", "handoff", "2026-11-20", outcome="queued"),
        occ("thủ tục làm sổ đỏ online", "c2", "abstained", "2026-11-25", guesses=[{"id": "uncovered_land"}]),
        occ(
            "làm sổ đỏ online ở đâu",
            "c3",
            "feedback",
            "2026-11-27",
            outcome="not_helpful",
            guesses=[{"id": "dvc_submit_dossier"}],
        ),
    ]
    [group] = group_questions(occurrences, TfidfVectors(), 0.3)
    assert group.count == 3  # (c1, sổ đỏ online ở đâu), (c2, thủ tục...), (c3, sổ đỏ online ở đâu)
    assert group.conversations == 3 and group.records == 5
    assert group.kinds == {"abstained": 2, "offered_handoff": 1, "handoff": 1, "feedback_not_helpful": 1}
    assert (group.first_day, group.last_day) == ("2026-11-20", "2026-11-27")
    assert group.top_guess == "uncovered_land"
    assert group.representative in ("làm sổ đỏ online ở đâu", "Làm sổ đỏ online ở đâu?")
    assert len(group.examples) == 2 and len(set(map(question_key, group.examples))) == 2


def test_masked_numbers_do_not_make_questions_look_alike():
    a = "sđt *******678 không nhận được otp vneid"
    b = "cccd *********789 bị khóa tài khoản"
    assert question_key(a) == "so dien thoai khong nhan duoc otp vneid"  # abbreviations expanded too
    groups = group_questions([occ(a, "c1"), occ(b, "c2")], TfidfVectors(), 0.3)
    assert len(groups) == 2


def test_empty_questions_are_ignored():
    assert group_questions([occ(""), occ("   "), occ("?")], TfidfVectors(), 0.3) == []


class TopicEncoder:
    """A stand-in sentence encoder: one dimension per topic word, so paraphrases with no shared
    characters still embed alike (what the real model is for)."""

    model_id = "topic-test"
    dimension = 3
    TOPICS = ({"sổ đỏ", "giấy chứng nhận quyền sử dụng đất"}, {"kết hôn", "cưới"}, {"lương hưu"})

    def __init__(self):
        self.seen: list[str] = []

    def encode_queries(self, texts):
        self.seen += texts
        rows = []
        for text in texts:
            row = np.array([float(any(w in text for w in words)) for words in self.TOPICS]) + 0.01
            rows.append(row / np.linalg.norm(row))
        return np.array(rows, dtype=np.float32)


def test_injected_encoder_groups_by_meaning_and_sees_restored_text():
    encoder = TopicEncoder()
    vectorize = EmbeddingVectors(encoder, restore=lambda t: t.replace("so do", "sổ đỏ"))
    texts = [
        "so do mảnh đất mới mua",
        "xin giấy chứng nhận quyền sử dụng đất",
        "đăng ký cưới cần gì",
        "kết hôn với người nước ngoài",
        "lương hưu chậm",
    ]
    groups = group_questions([occ(t, f"c{i}") for i, t in enumerate(texts)], vectorize, vectorize.threshold)
    found = members(groups)
    assert {"so do mảnh đất mới mua", "xin giấy chứng nhận quyền sử dụng đất"} in found
    assert {"đăng ký cưới cần gì", "kết hôn với người nước ngoài"} in found
    assert {"lương hưu chậm"} in found
    assert "sổ đỏ mảnh đất mới mua" in encoder.seen
    assert vectorize.name == "embedding:topic-test"


def test_past_the_pairwise_limit_rare_questions_join_their_nearest_group():
    texts = LAND + MARRIAGE + OTHERS
    vectors = TfidfVectors()(texts)
    full = cluster(vectors, 0.3)
    batched = cluster(vectors, 0.3, max_pairwise=3)
    same = lambda labels, i, j: labels[i] == labels[j]  # noqa: E731
    assert same(batched, 0, 3) and same(batched, 4, 6) and not same(batched, 0, 4)
    assert len(set(batched)) == len(set(full))


def _toy_key_things(text: str) -> frozenset[str]:
    """Stand-in for the spaCy key terms: which procedure a question names."""
    folded = question_key(text)
    found = set()
    if "so do" in folded or "quyen su dung dat" in folded:
        found.add("land_title")
    if "giay phep xay dung" in folded or "xin phep xay" in folded:
        found.add("building_permit")
    return frozenset(found)


def test_key_things_keep_different_procedures_apart_even_when_worded_alike():
    alike = ["xin giấy phép xây dựng online ở đâu", "xin sổ đỏ online ở đâu"]
    occurrences = [occ(t, f"c{i}") for i, t in enumerate(alike)]
    threshold = 0.2  # low enough that the wording alone merges them
    assert len(group_questions(occurrences, TfidfVectors(), threshold)) == 1
    groups = group_questions(occurrences, TfidfVectors(), threshold, key_things=_toy_key_things)
    assert sorted(members(groups), key=sorted) == [{alike[0]}, {alike[1]}]


def test_key_things_group_paraphrases_that_share_few_words():
    same = ["làm sổ đỏ lần đầu", "cấp giấy chứng nhận quyền sử dụng đất mất bao lâu"]
    occurrences = [occ(t, f"c{i}") for i, t in enumerate(same)]
    assert len(group_questions(occurrences, TfidfVectors(), 0.3)) == 2
    [group] = group_questions(occurrences, TfidfVectors(), 0.3, key_things=_toy_key_things)
    assert {o.text for o in group.occurrences} == set(same)


def test_key_things_stop_a_late_question_attaching_to_another_procedure():
    # Beyond max_pairwise, rows are attached to their most similar grouped row: not across procedures.
    texts = ["xin sổ đỏ online ở đâu", "làm sổ đỏ online ở đâu", "xin giấy phép xây dựng online ở đâu"]
    vectors = TfidfVectors()(texts)
    keys = [_toy_key_things(t) for t in texts]
    labels = cluster(vectors, 0.2, max_pairwise=2, keys=keys)
    assert labels[0] == labels[1] != labels[2]
