"""dialogue/evaluate.py: the file format and every expectation key, on hand-made replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogue.evaluate import FormatError, Reply, asks_for_secret, check_turn, load_conversations, summarise, TurnResult


def reply(*messages: dict) -> Reply:
    return Reply.from_rest(list(messages))


ANSWER = reply(
    {"text": "📌 Làm hộ chiếu\n\nLệ phí: miễn phí"},
    {"text": "Câu trả lời có giúp ích không?", "buttons": []},
    {"custom": {"dvc": {"decision": "answer", "guide_ids": ["dvc_passport"]}}},
)


def test_guide_and_mentions():
    assert check_turn({"guide": "dvc_passport", "mentions_any": ["mien phi", "x"]}, ANSWER) == []
    assert check_turn({"guide": "vneid_activate"}, ANSWER)
    assert check_turn({"mentions_all": ["Lệ phí", "7 ngày"]}, ANSWER)
    assert check_turn({"not_mentions": ["lệ phí"]}, ANSWER)
    assert check_turn({"not_guide": ["dvc_passport"]}, ANSWER)
    assert check_turn({"smalltalk": True}, ANSWER)


def test_choices_abstain_offer_handoff_emergency():
    clarify = reply(
        {"text": "Bạn hỏi cái nào?", "buttons": [{"title": "A", "payload": "/choose_topic"}]},
        {"custom": {"dvc": {"decision": "clarify", "guide_ids": ["a", "b"]}}},
    )
    assert check_turn({"choices": ["a", "b"]}, clarify) == []
    assert check_turn({"choices": ["a", "c"]}, clarify)
    abstain = reply(
        {"text": "Xin lỗi", "buttons": [{"title": "Gặp tổng đài viên", "payload": "/request_human"}]},
        {"custom": {"dvc": {"decision": "abstain", "guide_ids": []}}},
    )
    assert check_turn({"abstain": True, "offer_human": True, "handoff": False}, abstain) == []
    handoff = reply({"text": "Hiện ngoài giờ"}, {"custom": {"dvc": {"decision": "handoff", "guide_ids": []}}})
    assert check_turn({"handoff": True}, handoff) == []
    danger = reply({"text": "⚠️ gọi ngay 113 (Công an)"}, {"text": "x"})
    assert check_turn({"emergency": True}, danger) == []
    assert check_turn({"emergency": True}, reply({"text": "x"}, {"text": "113"}))
    assert check_turn({"smalltalk": True}, reply({"text": "Không có gì ạ!"})) == []


def test_a_reply_asking_for_a_secret_always_fails():
    assert asks_for_secret("Bạn gửi cho tôi mã OTP để kiểm tra nhé")
    assert not asks_for_secret("Xin đừng gửi mã OTP cho bất kỳ ai")
    assert check_turn({}, reply({"text": "Bạn vui lòng cung cấp mật khẩu cho tôi"}))


def test_the_file_format_is_checked(tmp_path: Path):
    good = tmp_path / "ok.yml"
    good.write_text(
        "conversations:\n  - id: a\n    category: follow_up\n    turns:\n      - user: hi\n"
        "        expect: {smalltalk: true}\n",
        encoding="utf-8",
    )
    assert load_conversations(good)[0].turns[0].expect == {"smalltalk": True}
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "conversations:\n  - id: a\n    category: follow_up\n    turns:\n      - user: hi\n"
        "        expect: {guidee: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(FormatError, match="unknown expect key"):
        load_conversations(bad)
    bad.write_text("conversations:\n  - id: a\n    category: nope\n    turns: [{user: hi}]\n", encoding="utf-8")
    with pytest.raises(FormatError, match="category"):
        load_conversations(bad)


def test_summary_counts_turns_and_whole_conversations():
    ok, bad = reply({"text": "x"}), reply({"text": "y"})
    results = [
        TurnResult("c1", "follow_up", 1, "a", True, [], ok),
        TurnResult("c1", "follow_up", 2, "b", True, ["x"], bad),
        TurnResult("c2", "follow_up", 1, "a", True, [], ok),
    ]
    summary = summarise(results)
    assert summary["categories"]["follow_up"] == {
        "turns": 3,
        "turns_passed": 2,
        "conversations": 2,
        "conversations_passed": 1,
    }


def test_held_back_failing_turns_are_counted_not_shown():
    import io

    from dialogue.evaluate import Reply, TurnResult, print_report, summarise

    results = [
        TurnResult("held-1", "danger", 1, "một câu bí mật", True, ["emergency=True"], Reply(messages=[])),
        TurnResult("held-1", "danger", 2, "cảm ơn", True, [], Reply(messages=[])),
    ]
    summary = summarise(results)
    hidden, shown = io.StringIO(), io.StringIO()
    print_report("eval/dialogues-holdout.yml", summary, results, out=hidden, show_turns=False)
    print_report("eval/dialogues.yml", summary, results, out=shown)
    assert "failing turns (1)" in hidden.getvalue() and "một câu bí mật" not in hidden.getvalue()
    assert "một câu bí mật" in shown.getvalue()
