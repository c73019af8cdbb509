"""dialogue/: situations, follow-ups, choices, message shape. Own paraphrases, not the eval files."""

from __future__ import annotations

import pytest

from dialogue import choices as ch
from dialogue.followup import facet_section, facets_of, is_bare_follow_up, residual_words
from dialogue.shape import reroute
from dialogue.situations import match_patterns, safety_settled

SITUATIONS = {
    "threat": [
        "thằng say xỉn đang vác dao phay đuổi đánh vợ nó ngoài ngõ",
        "co ke cam sung dung truoc cong nha toi",
        "mấy người lạ xông vào nhà uy hiếp bà tôi",
    ],
    "otp_now": [
        "một người tự xưng cảnh sát đang gọi, bảo đọc mã OTP để xác minh",
        "co nen doc ma xac thuc cho nguoi xung cong an khong",
    ],
    "transfer_now": [
        "tôi đang ở cây ATM, người xưng viện kiểm sát bắt chuyển tiền vào tài khoản an toàn",
        "ho yeu cau toi chuyen khoan ngay de phuc vu dieu tra, toi sap chuyen",
    ],
    "money_lost": [
        "bố tôi bị lừa mất 30 triệu sau cuộc gọi giả danh công an",
        "tài khoản của tôi bị rút sạch tiền rồi",
    ],
    "stolen_phone": ["bị móc túi mất điện thoại, vneid vẫn đang đăng nhập", "toi danh roi dt, trong may con app vneid"],
    "wrong_data": ["quê quán trên tài khoản định danh bị ghi sai", "nam sinh tren vneid khong dung voi giay to"],
    "complaint": ["tôi muốn khiếu nại công an phường", "can bo mot cua gay kho de va doi tien boi duong"],
}
ORDINARY = [
    "đổi điện thoại mới thì đăng nhập vneid thế nào",
    "làm căn cước mất mấy ngày",
    "làm hộ chiếu có mất tiền không",
    "làm sao để không bị lừa đảo qua điện thoại",
    "nhập sai mật khẩu nhiều lần bị khóa",
    "nộp phạt bằng chuyển khoản",
    "công an có bao giờ gọi điện hỏi mã OTP không",
    "chuyển khẩu online",
    "dạo này vneid hay lỗi",
    "ví giấy tờ để được những giấy tờ gì",
]


@pytest.mark.parametrize("name, text", [(n, t) for n, ts in SITUATIONS.items() for t in ts])
def test_situations_are_recognised_in_paraphrases_and_without_accents(name, text):
    assert match_patterns(text) == name


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_questions_are_not_situations(text):
    assert match_patterns(text) is None


def test_a_settled_danger_is_recognised():
    assert safety_settled("cảnh sát sắp tới rồi")
    assert safety_settled("toi se khong chuyen nua")
    assert not safety_settled("làm hộ chiếu thế nào")


@pytest.mark.parametrize(
    "text, facet",
    [
        ("lệ phí thế nào", "fee"),
        ("mat may ngay", "time"),
        ("cần mang gì theo", "documents"),
        ("nộp chỗ nào", "where"),
        ("không làm có bị phạt không", "penalty"),
    ],
)
def test_bare_follow_ups_have_a_facet_and_no_topic(text, facet):
    assert is_bare_follow_up(text)
    assert facet in facets_of(text)


def test_a_follow_up_naming_a_topic_is_not_bare():
    assert not is_bare_follow_up("còn hộ chiếu thì sao")
    assert residual_words("còn hộ chiếu thì sao")


def test_the_section_that_fits_the_facet():
    sections = [
        ("Các bước", "1. Đăng nhập"),
        ("Giấy tờ cần chuẩn bị", "Thẻ căn cước"),
        ("Lệ phí, thời hạn", "Miễn phí, 7 ngày"),
    ]
    assert facet_section(sections, ["fee"]) == 2
    assert facet_section(sections, ["documents"]) == 1
    assert facet_section(sections, []) == -1


def test_a_typed_choice_by_cue_and_negation():
    offered = ["vneid_register_level1", "vneid_register_level2"]
    assert ch.cue_winner("mình tự làm tại nhà, không lên công an đâu", offered) == "vneid_register_level1"
    assert ch.cue_winner("ra phường làm mức 2", offered) == "vneid_register_level2"
    assert ch.cue_winner("không biết nữa", offered) is None


def test_an_ambiguous_question_asks_and_a_cue_answers():
    ranking = [("vneid_criminal_record", 0.7), ("dvc_criminal_record", 0.66), ("vneid_passcode", 0.3)]
    found = ch.ambiguous_pair("xin lý lịch tư pháp online", ranking)
    assert isinstance(found, tuple) and found[1] == ["vneid_criminal_record", "dvc_criminal_record"]
    assert ch.ambiguous_pair("xin lý lịch tư pháp trên máy tính", ranking) == "dvc_criminal_record"
    assert (
        ch.ambiguous_pair("xin lý lịch tư pháp", [("vneid_criminal_record", 0.8), ("dvc_criminal_record", 0.6)]) is None
    )


def test_ordinal_replies():
    assert ch.ordinal_choice("cái đầu tiên", 2) == 0
    assert ch.ordinal_choice("số 2 nha", 2) == 1
    assert ch.ordinal_choice("cai thu 3", 2) is None


@pytest.mark.parametrize(
    "text, intent, expected",
    [
        ("ok cho mình gặp nhân viên", "affirm", "request_human"),
        ("het bao nhieu tien vay", "goodbye", "ask_procedure"),
        ("có mất phí không", "affirm", "ask_procedure"),
        ("ok cảm ơn nhé", "thank", None),
        ("bạn tên là gì", "chitchat", None),
        ("/affirm", "affirm", None),
    ],
)
def test_message_shape_overrides_the_classifier(text, intent, expected):
    assert reroute(text, intent) == expected


def test_cues_of_both_guides_leave_the_search_decision_standing():
    """'Mã bảo vệ … có giống mật khẩu đăng nhập không' names both sides: not a cue for either."""
    ranking = [("vneid_passcode", 0.72), ("vneid_forgot_password", 0.7)]
    both = "Mã bảo vệ 6 số trong ứng dụng VNeID dùng để làm gì, có giống mật khẩu đăng nhập không?"
    assert ch.ambiguous_pair(both, ranking) is None
    assert ch.ambiguous_pair("mã bảo vệ 6 số để làm gì", ranking) == "vneid_passcode"


# ---- asking between guides that cover the same key thing (no hand-written group needed)
CARD = {"dvc_cccd_reissue": "Cấp đổi, cấp lại thẻ căn cước", "vneid_child_under14": "Căn cước, định danh cho trẻ em"}


def test_the_same_key_thing_in_two_close_guides_is_asked_about():
    ranking = [("dvc_cccd_reissue", 0.61), ("vneid_child_under14", 0.58), ("vneid_lock_unlock", 0.40)]
    both = frozenset(CARD)
    assert ch.shared_thing_choices("làm thẻ căn cước trên vneid được không", ranking, [both], CARD) == list(CARD)


@pytest.mark.parametrize(
    "ranking, named, text",
    [
        # the runner-up is too far below
        ([("dvc_cccd_reissue", 0.70), ("vneid_child_under14", 0.58)], [frozenset(CARD)], "làm thẻ căn cước"),
        # another key thing named is covered by only one of them: it tells them apart
        (
            [("dvc_cccd_reissue", 0.61), ("vneid_child_under14", 0.58)],
            [frozenset(CARD), frozenset({"dvc_cccd_reissue"})],
            "cấp lại thẻ căn cước bị mất",
        ),
        # the words of one guide's title that the other lacks tell them apart
        ([("vneid_child_under14", 0.61), ("dvc_cccd_reissue", 0.58)], [frozenset(CARD)], "căn cước cho trẻ em 6 tuổi"),
        # the key thing is covered by the top guide only
        (
            [("dvc_cccd_reissue", 0.61), ("vneid_child_under14", 0.58)],
            [frozenset({"dvc_cccd_reissue"})],
            "làm căn cước",
        ),
        # no key thing named
        ([("dvc_cccd_reissue", 0.61), ("vneid_child_under14", 0.58)], [], "làm sao vậy"),
    ],
)
def test_no_question_when_something_tells_the_guides_apart(ranking, named, text):
    assert ch.shared_thing_choices(text, ranking, named, CARD) is None
