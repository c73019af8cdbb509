"""Answer a citizen's message from the guides, reading it against the conversation so far.

The order matters (each step only runs when the previous ones did not settle the message):

1. danger (dialogue/situations.py + handoff/safety.py): the emergency numbers first, what to do now;
2. after a danger message, "help is on the way" / "I won't transfer" is acknowledged, not searched;
3. policy situations (stolen phone, money lost, wrong personal data, complaint, a dossier
   problem): the advice first, then the offer of a person;
4. choices on offer ("which one?"): the reply is matched against the offered guides first;
5. a follow-up with no topic of its own ("hết bao nhiêu tiền") is answered from the current
   topic's guide, from the section that fits the facet;
6. a fresh search; when the question fits two guides that lead to different actions
   (dialogue/confusables.yml) and names neither, ask.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.context import DialogueState, annotate, state_events
from bot.settings import load_settings
from dialogue import choices as ch
from dialogue import followup as fu
from dialogue.danger import SERVICES as LEARNED_SERVICES
from dialogue.danger import DangerClassifier
from dialogue.danger import model_path as danger_model_path
from dialogue.situations import EMERGENCIES, SituationModel, safety_settled
from handoff.privacy import REDACTED
from handoff.safety import POLICE, danger_text, urgent_services
from handoff.triggers import OFFER_ACTION, after_unhelpful, should_offer_handoff
from insights import recording
from retrieval.keyterms import SPECIFIC
from retrieval.search import Decision
from retrieval.service import get_service

log = logging.getLogger(__name__)

# Intents whose message may still be a procedure question the NLU misread. For these the action
# searches too, but answers only when the guide is clearly right (extra margin on the threshold).
DOUBTFUL_INTENTS = {"out_of_scope"}
# How much stronger than the normal answer threshold a doubtful-intent match must be.
DOUBTFUL_EXTRA = 0.08
# A follow-up-shaped message ("còn … thì sao", a facet and a few words) stays on the current topic
# when the current guide scores within this of the best guide (fused-score units).
FOLLOW_KEEP = 0.06
# A short question naming no key thing stays on the topic unless another guide answers it this much
# better (fused score); up to this many words.
LEAN_SWITCH = 0.12
# A handoff entry of a policy situation counts when it scores this close to the answer threshold.
ROUTE_SLACK = 0.05
LEAN_MAX_WORDS = 12
QUESTION_SHAPE = re.compile(r"(?<![\w])(khong|ko|k|hong|hok|chua|gi|j|nao|dau|sao|may|bao nhieu|bao lau|khi nao|"
                            r"ai|the nao|nhu nao|ra sao|duoc khong|co phai|phai khong|hay khong|the|vay|a)$|"
                            r"(?<![\w])(gi|j|nao|dau|may|bao nhieu|bao lau|khi nao|the nao|nhu nao|ai|co phai|"
                            r"co can|can gi|lam sao)(?![\w])|\?")
# A reply to "which one?" is a fresh question when a guide that was not offered beats the offered
# ones by this much and is answerable on its own.
CHOICE_ESCAPE = 0.08
# An offered guide wins a typed reply on search scores alone when it leads the other offered ones by this.
CHOICE_LEAD = 0.02
# Where the advice of a policy situation is followed by an answer from a guide.
POLICY_GUIDE = {"stolen_phone": "vneid_lock_unlock"}
# The routing entries (knowledge/routing.yml) the policy situations correspond to: the handoff reason
# names them, as when the search itself stops on the entry.
POLICY_ROUTE = {"complaint": "handoff_complaint", "wrong_data": "handoff_wrong_personal_data",
                "dossier": "handoff_specific_dossier"}
SCAM_GUIDE = "support_scam_warning"
FOLLOW_SHAPED = re.compile(r"(^(con|the con|vay con|vay|the|nhung|neu|the neu|truong hop|lo|ma|a con|a ma)\b)|"
                           r"(thi (sao|the nao|lam sao|sao a|sao ha|co sao|co duoc khong|duoc khong)\s*$)")

POLICY_ADVICE = {
    "stolen_phone": ("Việc cần làm trước: khóa tạm tài khoản VNeID ngay, bằng cách gọi tổng đài 1900 0368, đến công an "
                     "xã, phường, hoặc đăng nhập VNeID trên một máy khác để yêu cầu khóa. Nếu trong máy có ứng dụng "
                     "ngân hàng, hãy gọi ngay ngân hàng để khóa tài khoản, và trình báo công an."),
    "money_lost": ("Việc cần làm ngay: (1) gọi tổng đài ngân hàng của bạn để khóa tài khoản, thẻ và đề nghị phong tỏa "
                   "giao dịch; (2) trình báo công an xã, phường nơi gần nhất (gọi 113 nếu khẩn cấp), mang theo tin "
                   "nhắn, số điện thoại, sao kê làm bằng chứng; (3) nếu đã cài ứng dụng lạ hoặc đưa mật khẩu, khóa tài "
                   "khoản VNeID qua tổng đài 1900 0368. Không làm theo bất kỳ ai gọi tới hứa «lấy lại tiền»."),
    "wrong_data": ("Thông tin cá nhân trên tài khoản định danh (họ tên, ngày sinh, giới tính, quê quán, nơi thường "
                   "trú…) lấy từ Cơ sở dữ liệu quốc gia về dân cư; tôi và ứng dụng không tự sửa được. Muốn điều "
                   "chỉnh, bạn mang thẻ căn cước và giấy tờ chứng minh thông tin đúng đến công an xã, phường nơi cư "
                   "trú để được kiểm tra, cập nhật."),
    "complaint": ("Phản ánh, khiếu nại về cán bộ, về cách tiếp nhận hồ sơ cần người xem xét trực tiếp; tôi không tự "
                  "giải quyết được. Bạn nên ghi lại thời gian, nơi làm việc và nội dung sự việc."),
    "dossier": ("Trường hợp hồ sơ cụ thể của bạn (quá hẹn, bị trả về không rõ lý do, đã trừ tiền mà chưa cập nhật) "
                "cần cán bộ kiểm tra trực tiếp; tôi không xem được hồ sơ của bạn. Bạn chuẩn bị sẵn mã hồ sơ và "
                "biên lai (nếu có)."),
}
SAFETY_ACK = {
    "otp_now": ("Bạn làm đúng rồi: không đọc mã, cúp máy. Nếu lỡ cung cấp thông tin, hãy đổi mật khẩu, báo ngay ngân "
                "hàng và công an xã, phường. Tôi vẫn ở đây nếu bạn cần hỏi thêm."),
    "transfer_now": ("Bạn làm đúng rồi: không chuyển tiền. Hãy báo nhân viên ngân hàng và công an xã, phường về cuộc gọi "  # noqa: E501
                     "này. Tôi vẫn ở đây nếu bạn cần hỏi thêm."),
}
SAFETY_ACK_DEFAULT = ("Mong bạn và mọi người an toàn. Trong lúc chờ, hãy ở nơi an toàn và giữ điện thoại bên mình; nếu "
                      "tình hình xấu đi, gọi lại ngay số khẩn cấp. Khi cần, bạn cứ nhắn cho tôi.")

# dossier problems that need an officer (the handoff rules): overdue, returned without reason, paid but unpaid
DOSSIER_PROBLEM = re.compile(
    r"(?<![\w])(qua han|qua hen|tre hen|tre han|bi tra ve|tra ve ma khong|tra lai ma khong|khong (ghi|neu|noi) ly do|"
    r"tru tien (2|hai) lan|bi tru (2|hai) lan|tru 2 lan|da tru (tien )?ma|tien da tru|van (bao|hien) chua (thanh toan|nop)|"  # noqa: E501
    r"chua cap nhat (trang thai|thanh toan)|qua lau (ma )?chua|chua co ket qua)(?![\w])")
DOSSIER_CONTEXT = re.compile(r"(?<![\w])(ho so|le phi|phi|thanh toan|tien)(?![\w])")

_situations: SituationModel | None = None
_situations_lock = threading.Lock()


def situation_model() -> SituationModel:
    """Patterns plus the search's embedding model (loaded with the index, shared)."""
    global _situations
    if _situations is None:
        with _situations_lock:
            if _situations is None:
                encoder, restore, classifier = None, None, None
                try:
                    service = get_service()
                    searcher = service.searcher()
                    encoder = searcher.encoder
                    restore = searcher._restorer.restore  # noqa: SLF001 - same diacritics restoration as the search
                    classifier = DangerClassifier.load(danger_model_path(load_settings().index_dir))
                except Exception:  # noqa: BLE001 - patterns alone still work
                    log.warning("situations: no embedding model, patterns only")
                _situations = SituationModel(encoder, restore, classifier=classifier)
    return _situations


def _send(dispatcher: CollectingDispatcher, messages: list[dict]) -> None:
    for message in messages:
        if "custom" in message:
            dispatcher.utter_message(json_message=message["custom"])
        else:
            dispatcher.utter_message(text=message["text"], buttons=message.get("buttons", []))


def _user_question(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def _record(tracker: Tracker, messages: list[dict], question: str | None, outcome: str | None = None,
            guesses: list[dict] | None = None) -> None:
    """One interaction row per ``{"dvc": ...}`` decision in ``messages`` (insights/recording.py).

    Queued for a background thread: it never slows or breaks the reply.
    """
    try:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        channel = tracker.get_latest_input_channel()
        for message in messages:
            meta = (message.get("custom") or {}).get("dvc")
            if isinstance(meta, dict):
                recording.record_decision(meta, sender_id=tracker.sender_id, channel=channel, question=question,
                                          intent=intent, outcome=outcome, guesses=guesses)
    except Exception:  # noqa: BLE001 - a reply never fails because of the report
        log.exception("could not record the decision for %s", tracker.sender_id)


def _send_recorded(dispatcher: CollectingDispatcher, tracker: Tracker, messages: list[dict], question: str | None,
                   outcome: str | None = None, guesses: list[dict] | None = None) -> None:
    """Send ``messages`` and record the decision they carry."""
    _send(dispatcher, messages)
    _record(tracker, messages, question, outcome, guesses)


def _abstained(tracker: Tracker, decision: Decision | None) -> list[EventType]:
    """Count the abstention; on the second in a row, or a "handoff" routing entry, offer a person."""
    count = (tracker.get_slot("abstain_count") or 0) + 1
    events: list[EventType] = [SlotSet("abstain_count", count)]
    if should_offer_handoff(decision.as_metadata() if decision else None, count):
        route = decision.route if decision else None
        reason = f"policy:{route.guide_id}" if route and route.kind == "handoff" else "repeated_abstain"
        events += state_events(offer_reason=reason)
        events.append(FollowupAction(OFFER_ACTION))
    return events


def _plain(text: str) -> str:
    return ch.plain(text)


def _scores(decision: Decision) -> dict[str, float]:
    return {r.guide_id: r.score for r in decision.ranked}


def _guide_ranking(decision: Decision, limit: int = 6) -> list[tuple[str, float]]:
    return [(r.guide_id, r.score) for r in decision.ranked if r.kind == "guide"][:limit]


class ActionAnswerQuestion(Action):
    """Read the latest message against the dialogue state and answer, ask, warn or offer a person."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        question = _user_question(tracker)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        state = DialogueState.from_tracker(tracker)
        if REDACTED in question:  # the channel hid a password / OTP the citizen typed
            hidden = [{"text": replies.SECRET_HIDDEN}]
        else:
            hidden = []
        try:
            searcher = get_service().searcher()
        except Exception:  # noqa: BLE001 - no index / broken index: never guess, offer a person
            log.exception("search failed for %r", question)
            services = urgent_services(question)
            if services:
                _send(dispatcher, [{"text": danger_text(None, services)}])
            _send(dispatcher, hidden)
            _send_recorded(dispatcher, tracker, replies.abstain_messages(settings.hotline, None,
                                                                         reason="search_unavailable"), question)
            return _abstained(tracker, None)
        turn = _Turn(self, dispatcher, tracker, searcher, state, question, settings)
        if (state.pending == "safety" or state.safety) and safety_settled(question):
            settled = turn.safety_followup()
            if settled is not None:
                return settled
        situation = situation_model().recognize(question)
        services = urgent_services(question)
        learned = bool(situation and situation.via == "classifier")
        if learned and not services and (state.topic or state.choices):
            # Flagged by the learned model inside a conversation about a procedure ("thế còn làm cho thằng
            # con 7 tuổi thì sao"): the emergency pointer first, then the message is read as usual, and
            # "help is on the way" next is still acknowledged (safety_concern).
            name = situation.name
            _send(dispatcher, [{"text": danger_text(name, list(LEARNED_SERVICES.get(name, [POLICE])))}])
            state.safety = name
            return [*await self._read(dispatcher, tracker, turn, state, question, intent, hidden, None),
                    SlotSet("safety_concern", name)]
        if (situation and situation.kind == "danger") or services:
            return turn.danger(situation.name if situation and situation.kind == "danger" else None, services,
                               hidden, learned=learned)
        return await self._read(dispatcher, tracker, turn, state, question, intent, hidden, situation)

    async def _read(self, dispatcher, tracker, turn, state: DialogueState, question: str, intent: str | None,
                    hidden: list[dict], situation) -> list[EventType]:
        """Everything after the danger check: policy, choices, follow-ups, a fresh search."""
        searcher, settings = turn.searcher, turn.settings
        _send(dispatcher, hidden)
        if state.pending == "safety" and not situation:
            settled = turn.safety_followup()
            if settled is not None:
                return settled
        if situation:
            return turn.policy(situation.name, situation.via)
        if intent != "out_of_scope" and _is_dossier_problem(question):
            return turn.policy("dossier", "pattern")
        if state.choices:
            chosen = turn.typed_choice()
            if chosen is not None:
                return chosen
        decision = searcher.decide(question, context_topic=state.topic)
        if after_unhelpful(tracker.get_slot("unhelpful_topic"),
                           {"decision": decision.action, "guide_ids": decision.guide_ids}):
            # asked again after "not helpful", and nothing better than before: offer a person
            return [SlotSet("last_question", question), *state_events(offer_reason="not_helpful"),
                    FollowupAction(OFFER_ACTION)]
        route = decision.route
        by_route = {entry: name for name, entry in POLICY_ROUTE.items()}
        if route is not None and route.guide_id in by_route and route.score >= searcher.thresholds.answer - ROUTE_SLACK:
            # the search stopped on a handoff entry a policy situation stands for ("ngày sinh trên app bị
            # đảo ngày với tháng"): its advice first (the police correct personal data), then the offer
            return turn.policy(by_route[route.guide_id], "route")
        if state.topic:
            follow = turn.follow_up(decision)
            if follow is not None:
                return follow
        if intent in DOUBTFUL_INTENTS:
            strong = decision.action == "answer" and decision.top.score >= searcher.thresholds.answer + DOUBTFUL_EXTRA
            if not strong:
                messages = annotate(replies.out_of_scope_messages(settings.hotline, decision), state, "search")
                _send_recorded(dispatcher, tracker, messages, question)
                return state_events(pending=None, choices=None)
        return turn.fresh(decision)

    @staticmethod
    def _respond(dispatcher, tracker, searcher, decision: Decision, question: str,
                 state: DialogueState | None = None, resolved_from: str = "search") -> list[EventType]:
        settings = load_settings()
        state = state or DialogueState.from_tracker(tracker)
        guides = searcher.index.guides
        if after_unhelpful(tracker.get_slot("unhelpful_topic"),
                           {"decision": decision.action, "guide_ids": decision.guide_ids}):
            # asked again after "not helpful", and nothing better than before: offer a person
            return [SlotSet("last_question", question), *state_events(offer_reason="not_helpful"),
                    FollowupAction(OFFER_ACTION)]
        if decision.action == "answer":
            guide = guides[decision.guide_ids[0]]
            section = searcher.best_section(decision, guide.id)
            return _answer(dispatcher, tracker, guide, section, decision, question, state, resolved_from)
        if decision.action == "clarify":
            offered = [guides[g] for g in decision.guide_ids]
            messages = annotate(replies.clarify_messages(offered, decision), state, resolved_from)
            _send_recorded(dispatcher, tracker, messages, question)
            return [SlotSet("last_question", question), *state_events(choices=[g.id for g in offered],
                                                                        pending="choices")]
        route = decision.route
        title = guides[route.guide_id].title if route else ""
        messages = annotate(replies.abstain_messages(settings.hotline, decision, route_title=title), state,
                            resolved_from)
        _send_recorded(dispatcher, tracker, messages, question)
        return [*state_events(pending="offer_human", choices=None), *_abstained(tracker, decision)]


def _guide_words(guide) -> set[str]:
    """Folded words of a guide's title, summary, questions and sections."""
    parts = [guide.title, guide.summary, " ".join(guide.questions), " ".join(guide.tags)]
    parts += [f"{s.heading} {s.text}" for s in guide.sections]
    return set(_plain(" ".join(parts)).split())


def _mostly_in(words: list[str], guide, share: float = 0.6) -> bool:
    """True when most of ``words`` occur in the guide: the message adds a condition to its topic."""
    if not words:
        return True
    known = _guide_words(guide)
    return sum(w in known for w in words) / len(words) >= share


# "Who may ask for my OTP / password?": a secret with a verb of asking for it, and someone asking.
# Folded text, so "đòi" and "đổi" are both "doi": "doi" counts only before an OTP / code, never
# before "mat khau" (changing one's password is its own guide); "cần", "lấy (lại)", "bạn", "ai"
# are too common to count (measured: "bạn ơi quên mật khẩu thì cần làm gì" was taken for one).
_SECRET = r"otp|ma otp|mat khau|mk|passcode|ma bao ve|ma xac thuc|ma xac nhan"
_ASK = (r"hoi|doi(?= (ma |so )?(otp|xac thuc|xac nhan))|xin|yeu cau|bat (doc|dua|nhap|gui|cung cap)|doc (cho|giup|ma)|"
        r"cung cap|gui(?= (ma|otp))|bao (dua|doc|gui|cho|nhap)|(co )?(nen|duoc) (dua|doc|gui|cho)|"
        r"(co )?can(?= (ma|mat khau|mk|otp|passcode))|muon (biet|xem)(?= (ma|mat khau|mk|otp|passcode))")
SECRET_NAMED = re.compile(rf"(?<![\w])({_SECRET})(?![\w])")
SECRET_QUESTION = re.compile(
    rf"(?<![\w])({_SECRET})(?![\w]).*(?<![\w])({_ASK})(?![\w])|(?<![\w])({_ASK})(?![\w]).*(?<![\w])({_SECRET})(?![\w])")
SECRET_ASKER = re.compile(r"(?<![\w])(nhan vien|tong dai|tong dai vien|chatbot|bot|tro ly|cong an|ngan hang|can bo|"
                          r"nguoi la|ai do|nguoi ta|nguoi xung|so la|ban|anh|chi|anh ay|chi ay|ong|ba|to truong|"
                          r"khu pho|hang xom|nguoi quen|ho hang|dich vu|cua hang|tiem|ben|ho|no)(?![\w])")
# Recovering or changing one's own password is not a question about who may ask for it.
SECRET_RECOVERY = re.compile(r"(?<![\w])(quen|lay lai|dat lai|khoi phuc|cap lai|doi mat khau|doi mk|"
                             r"doi passcode)(?![\w])")
SECRET_SHARED = re.compile(r"(?<![\w])(cho (ban|nguoi khac|nguoi ta|no|ho|ai) (muon|biet|dung)|lo (dua|cho|gui|noi)|"
                           r"dua (mat khau|tai khoan|otp)|biet mat khau|muon (mat khau|tai khoan))(?![\w])")


def is_secret_question(plain: str) -> bool:
    """A question about who may ask for a secret, or a secret already given away (folded text).

    >>> is_secret_question("nhan vien ngan hang hoi mat khau vneid co dua khong")
    True
    >>> is_secret_question("ban oi quen mat khau thi can lam gi")
    False
    >>> is_secret_question("con toi cho ban muon mat khau vneid, gio lam gi")
    True
    """
    if SECRET_SHARED.search(plain) and SECRET_NAMED.search(plain):
        return True  # "cho bạn mượn mật khẩu": given away, whatever else the message says
    return bool(SECRET_QUESTION.search(plain) and not SECRET_RECOVERY.search(plain) and SECRET_ASKER.search(plain))


SECRET_ADVICE = ("Trợ lý ảo, tổng đài viên, công an và ngân hàng không bao giờ hỏi mã OTP, mật khẩu hay mã bảo vệ "
                 "(passcode) của bạn. Không đọc, không đưa các mã này cho bất kỳ ai, kể cả người xưng là cán bộ.")
SHARED_ADVICE = ("Đã đưa mật khẩu cho người khác thì nên đổi mật khẩu VNeID ngay (dùng «Quên mật khẩu» nếu cần) và "
                 "không đưa mật khẩu, mã OTP, mã bảo vệ cho ai nữa. Nếu thấy tài khoản bị dùng lạ, khóa tạm tài khoản "
                 "qua tổng đài 1900 0368 hoặc công an xã, phường.")
PRIVACY_GUIDES = ("support_privacy", "support_scam_warning")
FACET_NOTE = {
    "fee": "Về lệ phí: hướng dẫn này chưa có mức phí được xác nhận; bạn nên hỏi lại cơ quan tiếp nhận hoặc gọi tổng đài.",  # noqa: E501
    "time": "Về thời gian: hướng dẫn này chưa có thời hạn được xác nhận; bạn nên hỏi lại cơ quan tiếp nhận.",
}
FACET_WORDS = {"fee": re.compile(r"(?<![\w])(phi|le phi|mien phi)(?![\w])"),
               "time": re.compile(r"(?<![\w])(\d+ ngay|ngay lam viec|thoi gian|thoi han|bao lau|trong ngay)(?![\w])")}
# "X thì sao" at the end: a condition added to the current topic ("tài khoản mức 1 thì sao")
ENDS_WHAT_ABOUT = re.compile(r"thi (sao|the nao|lam sao|sao a|sao ha)\s*$")


def _is_dossier_problem(text: str) -> bool:
    plain = _plain(text)
    return bool(DOSSIER_PROBLEM.search(plain) and DOSSIER_CONTEXT.search(plain))


def _answer(dispatcher, tracker, guide, section: int, decision: Decision | None, question: str,
            state: DialogueState, resolved_from: str, lead: list[dict] | None = None,
            helpful: bool = True, **extra) -> list[EventType]:
    settings = load_settings()
    messages = replies.answer_messages(guide, section, settings.hotline, decision)
    if not helpful:
        messages = [m for m in messages if m.get("text") != replies.HELPFUL_QUESTION]
    annotate(messages, state, resolved_from, **extra)
    _send_recorded(dispatcher, tracker, (lead or []) + messages, question)
    return [SlotSet("last_question", question), SlotSet("abstain_count", 0), SlotSet("unhelpful_topic", None),
            *state_events(topic=guide.id, section=section, choices=None, pending="helpful" if helpful else None,
                          safety=None)]


class _Turn:
    """One message being read: the pieces of ActionAnswerQuestion that need the same context."""

    def __init__(self, action, dispatcher, tracker, searcher, state: DialogueState, question: str, settings):
        self.action = action
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.searcher = searcher
        self.state = state
        self.question = question
        self.settings = settings
        self.guides = searcher.index.guides

    # ---- 1. danger
    def danger(self, situation: str | None, services: list[str], hidden: list[dict], learned: bool = False
               ) -> list[EventType]:
        if situation in LEARNED_SERVICES and not services:
            services = list(LEARNED_SERVICES[situation])
        if situation and POLICE in services and situation not in EMERGENCIES:
            services = [POLICE] + [s for s in services if s != POLICE]
        elif situation and not services:
            services = [POLICE]
        first = {"text": danger_text(situation, services)}
        _send(self.dispatcher, [first] + hidden)
        safety = situation or "emergency"
        events = state_events(pending="safety", safety=safety, choices=None)
        decision = self.searcher.decide(self.question)
        if situation in ("otp_now", "transfer_now") and SCAM_GUIDE in self.guides:
            guide = self.guides[SCAM_GUIDE]
            section = self.searcher.best_section(decision, SCAM_GUIDE)
            return _answer(self.dispatcher, self.tracker, guide, section, decision, self.question, self.state,
                           f"situation:{situation}", helpful=False, situation=situation) + \
                state_events(pending="safety", safety=safety)
        if decision.action == "answer" and (not situation or learned or situation in EMERGENCIES):
            # urgent words in a real question ("nhà đang cháy, quên mật khẩu VNeID"): still answered;
            # so is a question the learned model flagged (a false alarm then costs one message)
            guide = self.guides[decision.guide_ids[0]]
            section = self.searcher.best_section(decision, guide.id)
            return _answer(self.dispatcher, self.tracker, guide, section, decision, self.question, self.state,
                           "search", helpful=False) + state_events(pending="safety", safety=safety)
        meta = {"decision": "emergency", "guide_ids": [], "situation": safety, "services": services,
                "context": self.state.metadata(), "resolved_from": f"situation:{safety}"}
        _send(self.dispatcher, [{"custom": {"dvc": meta}}])
        return events

    # ---- 2. after a danger message
    def safety_followup(self) -> list[EventType] | None:
        decision = self.searcher.decide(self.question)
        if decision.action == "answer" and not safety_settled(self.question):
            return None  # a real question: answer it normally
        text = SAFETY_ACK.get(self.state.safety or "", SAFETY_ACK_DEFAULT)
        meta = {"decision": "safety_followup", "guide_ids": [], "situation": self.state.safety,
                "context": self.state.metadata(), "resolved_from": "safety"}
        _send(self.dispatcher, [{"text": text}, {"custom": {"dvc": meta}}])
        return state_events(pending=None, safety=None)

    # ---- 3. policy
    def policy(self, name: str, via: str) -> list[EventType]:
        lead = [{"text": POLICY_ADVICE[name]}]
        guide_id = POLICY_GUIDE.get(name)
        reason = f"policy:{POLICY_ROUTE.get(name, name)}"
        if guide_id in self.guides:
            decision = self.searcher.decide(self.question)
            section = self.searcher.best_section(decision, guide_id)
            offer = {"text": "Bạn có muốn được chuyển đến tổng đài viên để được hỗ trợ trực tiếp không?",
                     "buttons": [{"title": "Có, chuyển giúp tôi", "payload": "/affirm"},
                                 {"title": "Không, tôi hỏi tiếp", "payload": "/deny"}]}
            events = _answer(self.dispatcher, self.tracker, self.guides[guide_id], section, decision, self.question,
                             self.state, f"situation:{name}", lead=lead, helpful=False, situation=name,
                             situation_via=via, offer=reason)
            _send(self.dispatcher, [offer])
            return events + state_events(pending="offer_human", offer_reason=reason)
        meta = {"decision": "advice", "guide_ids": [], "situation": name, "situation_via": via,
                "context": self.state.metadata(), "resolved_from": f"situation:{name}"}
        _send(self.dispatcher, lead + [{"custom": {"dvc": meta}}])
        return [SlotSet("last_question", self.question),
                *state_events(pending="offer_human", offer_reason=reason, choices=None),
                FollowupAction(OFFER_ACTION)]

    # ---- 4. typed choice
    def typed_choice(self) -> list[EventType] | None:
        offered = [g for g in self.state.choices if g in self.guides]
        if len(offered) < 2:
            return None
        chosen, how = None, ""
        index = ch.ordinal_choice(self.question, len(offered))
        if index is not None:
            chosen, how = offered[index], "ordinal"
        if chosen is None:
            chosen, how = ch.cue_winner(self.question, offered), "cue"
        decision = self.searcher.decide(self.question)
        scores = _scores(decision)
        if chosen is None:
            group = ch.group_for(offered)
            descriptions = {g: " ".join([self.guides[g].title, " ".join(self.guides[g].tags),
                                         group.labels.get(g, "") if group else ""]) for g in offered}
            overlap = ch.distinguishing_overlap(self.question, descriptions)
            ranked = sorted(overlap.items(), key=lambda kv: -kv[1])
            if ranked[0][1] > 0 and ranked[0][1] > ranked[1][1]:
                chosen, how = ranked[0][0], "words"
        best_offered = max(scores.get(g, 0.0) for g in offered)
        top = decision.top
        fresh = (decision.action == "answer" and top is not None and top.guide_id not in offered
                 and top.score >= best_offered + CHOICE_ESCAPE)
        if chosen is None:
            if fresh:
                return None  # a new question, not an answer to "which one?"
            ranked = sorted(offered, key=lambda g: -scores.get(g, 0.0))
            if scores.get(ranked[0], 0.0) - scores.get(ranked[1], 0.0) >= CHOICE_LEAD:
                chosen, how = ranked[0], "search"
        if chosen is None:
            return None
        asked = self.tracker.get_slot("last_question") or ""
        combined = self.searcher.decide(f"{asked} {self.question}".strip())
        section = self.searcher.best_section(combined, chosen)
        return _answer(self.dispatcher, self.tracker, self.guides[chosen], section, combined,
                       f"{asked} {self.question}".strip(), self.state, "choice", chosen_by=how)

    # ---- 5. follow-up
    def follow_up(self, decision: Decision) -> list[EventType] | None:
        topic = self.state.topic
        guide = self.guides.get(topic or "")
        if guide is None or guide.kind != "guide":
            return None
        facets = fu.facets_of(self.question)
        bare = fu.is_bare_follow_up(self.question)
        if not bare and self._leans_by_key_things(decision, guide):
            bare = True
        if not bare:
            plain = _plain(self.question)
            words = plain.split()
            shaped = len(words) <= fu.MAX_FOLLOW_UP_WORDS and (
                bool(FOLLOW_SHAPED.search(plain)) or (bool(facets) and len(fu.residual_words(self.question)) <= 2))
            if not shaped:
                return None
            scores = _scores(decision)
            top = decision.top
            residual = fu.residual_words(self.question)
            conditional = bool(ENDS_WHAT_ABOUT.search(plain)) and len(residual) <= 3 and _mostly_in(residual, guide, 1.0)  # noqa: E501
            if not conditional and (top is None or scores.get(topic, 0.0) < top.score - FOLLOW_KEEP):
                return None  # another guide fits clearly better: a topic switch
        section = -1
        if facets and bare:
            section = fu.facet_section([(s.heading, s.text) for s in guide.sections], facets)
        if section < 0:
            focused = self.searcher.decide(f"{guide.title} {self.question}", context_topic=topic)
            section = self.searcher.best_section(focused, topic)
            decision = focused
        return self._from_topic(guide, section, decision, facets)

    def _leans_by_key_things(self, decision: Decision, guide) -> bool:
        """A short question about the current topic, told by the key things it names (spaCy).

        It names key things and the topic's guide covers them all ("còn tiền mai táng phí thì hỏi chỗ
        nào" after the death registration), or it names none and is a short question ("ảnh thì cần
        loại nào", "co can ra cong an ko", "goi vao roi bam so may") that no other guide answers far
        better. A key thing the topic does not cover is a new question.
        """
        plain = _plain(self.question)
        words = plain.split()
        if not 0 < len(words) <= LEAN_MAX_WORDS:
            return False
        named = [e for e in decision.entities if e.term.label in SPECIFIC]
        covered = self.searcher.coverage.get(guide.id, frozenset())
        if named:
            return all(e.term.id in covered for e in named)
        if not QUESTION_SHAPE.search(plain):
            return False
        top = decision.top
        scores = _scores(decision)
        return top is None or top.guide_id == guide.id or decision.action != "answer" or \
            top.score - scores.get(guide.id, 0.0) < LEAN_SWITCH

    def _from_topic(self, guide, section: int, decision: Decision, facets: list[str]) -> list[EventType]:
        """Answer from the current topic's guide; say so when it has nothing on the fee / time asked."""
        notes = []
        shown = _plain(" ".join([guide.summary] + ([guide.sections[section].text] if 0 <= section < len(guide.sections)
                                                   else [])))
        for facet in facets[:1]:
            if facet in FACET_NOTE and not FACET_WORDS[facet].search(shown):
                notes.append({"text": FACET_NOTE[facet]})
        events = _answer(self.dispatcher, self.tracker, guide, section, decision, self.question, self.state,
                         "follow_up", facets=facets or None)
        _send(self.dispatcher, notes)
        return events

    # ---- 6. fresh search, asking when really ambiguous
    def fresh(self, decision: Decision) -> list[EventType]:
        top = decision.top
        floor = self.searcher.thresholds.clarify_floor
        plain = _plain(self.question)
        if is_secret_question(plain):
            return self._secret_question(decision, shared=bool(SECRET_SHARED.search(plain)))
        if decision.action == "abstain" and top is not None and top.kind == "guide" and top.score >= floor - 0.05:
            found = ch.ambiguous_pair(self.question, _guide_ranking(decision))
            if isinstance(found, str) and found in self.guides:
                section = self.searcher.best_section(decision, found)
                return _answer(self.dispatcher, self.tracker, self.guides[found], section, decision, self.question,
                               self.state, "cue")
            leaned = self._lean_on_topic(decision)
            if leaned is not None:
                return leaned
        if decision.action in ("answer", "clarify") and top is not None and top.kind == "guide":
            found = ch.ambiguous_pair(self.question, _guide_ranking(decision))
            if isinstance(found, tuple) and decision.action == "clarify" and \
                    not set(decision.guide_ids) <= set(found[1]):
                found = None  # the search already asks between the two closest guides: its pair stands
            if isinstance(found, tuple) and self.state.topic:
                # the conversation so far says which: the topic itself, or the same channel (app / portal)
                topic = self.state.topic
                same = [g for g in found[1] if g == topic] or [
                    g for g in found[1] if g.split("_")[0] == topic.split("_")[0]]
                if len(same) == 1:
                    found = same[0]
            if isinstance(found, str) and found in self.guides:
                section = self.searcher.best_section(decision, found)
                return _answer(self.dispatcher, self.tracker, self.guides[found], section, decision, self.question,
                               self.state, "cue")
            if found is None:
                offered_auto = self._shared_thing_choices(decision)
                if offered_auto:
                    found = (None, offered_auto)
            if isinstance(found, tuple):
                group, offered = found
                messages = replies.clarify_messages([self.guides[g] for g in offered], decision,
                                                    question=group.question if group else None,
                                                    labels={g: group.labels[g] for g in offered} if group else None)
                meta = annotate(messages, self.state, "ambiguity")
                for m in meta:
                    dvc = (m.get("custom") or {}).get("dvc")
                    if dvc:
                        dvc.update({"decision": "clarify", "guide_ids": offered})
                _send_recorded(self.dispatcher, self.tracker, messages, self.question)
                return [SlotSet("last_question", self.question), *state_events(choices=offered, pending="choices")]
        if decision.action == "abstain" and decision.route is None:
            leaned = self._lean_on_topic(decision)
            if leaned is not None:
                return leaned
        return self.action._respond(self.dispatcher, self.tracker, self.searcher, decision, self.question,
                                    self.state)

    def _shared_thing_choices(self, decision: Decision) -> list[str] | None:
        """Guides to ask between when the key thing named is covered by several close guides and the
        conversation does not say which (``dialogue.choices.shared_thing_choices``)."""
        coverage = self.searcher.coverage
        named = [frozenset(g for g, ids in coverage.items() if e.term.id in ids)
                 for e in decision.entities if e.term.label in SPECIFIC]
        ranking = [(g, s) for g, s in _guide_ranking(decision) if g in self.guides]
        descriptions = {g: " ".join([self.guides[g].title, *self.guides[g].tags]) for g, _ in ranking}
        offered = ch.shared_thing_choices(self.question, ranking, named, descriptions)
        if offered and self.state.topic in offered:
            return None  # the conversation is already about one of them
        return offered

    def _lean_on_topic(self, decision: Decision) -> list[EventType] | None:
        """Nothing fits on its own, but the words add to the current topic ("bé 8 tuổi thì dẫn đi đâu"):
        answer from the topic, when it ranks among the first three and holds most of the words."""
        topic = self.state.topic
        guide = self.guides.get(topic or "")
        if guide is None or guide.kind != "guide" or decision.route is not None:
            return None
        if topic not in [r.guide_id for r in decision.ranked[:3]]:
            return None
        if not _mostly_in(fu.residual_words(self.question), guide):
            return None
        facets = fu.facets_of(self.question)
        focused = self.searcher.decide(f"{guide.title} {self.question}", context_topic=topic)
        section = fu.facet_section([(s.heading, s.text) for s in guide.sections], facets) if facets else -1
        if section < 0:
            section = self.searcher.best_section(focused, topic)
        return self._from_topic(guide, section, focused, facets)

    def _secret_question(self, decision: Decision, shared: bool) -> list[EventType]:
        """Who may ask for the OTP / password, or a password already shared: the rule first, then the guide."""
        ranked = [r.guide_id for r in decision.ranked if r.guide_id in PRIVACY_GUIDES and r.guide_id in self.guides]
        lead = [{"text": SHARED_ADVICE if shared else SECRET_ADVICE}]
        if not ranked:
            _send(self.dispatcher, lead)
            return self.action._respond(self.dispatcher, self.tracker, self.searcher, decision, self.question,
                                        self.state)
        guide = self.guides[ranked[0]]
        section = self.searcher.best_section(decision, guide.id)
        return _answer(self.dispatcher, self.tracker, guide, section, decision, self.question, self.state,
                       "situation:secret_question", lead=lead)


class ActionAnswerChosenTopic(Action):
    """The citizen tapped one of the clarification buttons: answer from that guide."""

    def name(self) -> str:
        return "action_answer_chosen_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        topic = next(tracker.get_latest_entity_values("topic_id"), None)
        asked = tracker.get_slot("last_question")  # the question the clarification was about
        state = DialogueState.from_tracker(tracker)
        try:
            searcher = get_service().searcher()
        except Exception:  # noqa: BLE001
            log.exception("search unavailable")
            _send_recorded(dispatcher, tracker,
                           replies.abstain_messages(settings.hotline, None, reason="search_unavailable"), asked)
            return []
        guide = searcher.index.guides.get(topic or "")
        if guide is None or guide.kind != "guide":  # routing entries are never answered from
            _send_recorded(dispatcher, tracker,
                           replies.abstain_messages(settings.hotline, None, reason="unknown_topic"), asked)
            return []
        question = asked or guide.title
        decision = searcher.decide(question)
        section = searcher.best_section(decision, guide.id)
        messages = annotate(replies.answer_messages(guide, section, settings.hotline, decision), state, "choice",
                            chosen_by="button")
        _send_recorded(dispatcher, tracker, messages, asked, outcome="chosen")
        return [SlotSet("abstain_count", 0),
                *state_events(topic=guide.id, section=section, choices=None, pending="helpful")]
