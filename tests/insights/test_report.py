"""python -m insights.report on a store filled with known interactions (TF-IDF grouping, tiny index)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handoff.store import Store
from insights import report as report_mod
from insights.html import chart_svg

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
RAW_ID, RAW_PHONE, SECRET = "079123456789", "0912345678", "abc123"
PERIOD = ["--since", "2026-11-01", "--until", "2026-11-30"]


def at(day: str, hour: int = 10) -> float:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=HCM).timestamp()


def fill(store: Store) -> None:
    rec = store.record_interaction
    # 20 November: two answers, one clarification, a feedback yes and a feedback no.
    rec(
        "answered",
        "c1",
        channel="rest",
        question="quên mật khẩu vneid",
        guide_id="vneid_forgot_password",
        now=at("2026-11-20"),
    )
    rec("answered", "c2", channel="zalo", question="kich hoat vneid", guide_id="vneid_activate", now=at("2026-11-20"))
    rec("clarified", "c3", channel="rest", question="nộp phạt nguội ở đâu", now=at("2026-11-20"))
    rec(
        "feedback",
        "c1",
        question="quên mật khẩu vneid",
        outcome="helpful",
        guide_id="vneid_forgot_password",
        now=at("2026-11-20", 11),
    )
    rec(
        "feedback",
        "c2",
        question="kich hoat vneid",
        outcome="not_helpful",
        guide_id="vneid_activate",
        now=at("2026-11-20", 11),
    )
    # 22 November: marriage questions abstained (uncovered), one offered and handed off; personal data.
    for i, text in enumerate(
        ["đăng ký kết hôn online được không", "dang ky ket hon online duoc ko", "thủ tục đăng ký kết hôn online"]
    ):
        rec(
            "abstained",
            f"m{i}",
            channel="webchat",
            question=text,
            reason="uncovered:uncovered_marriage",
            guesses=[{"id": "uncovered_marriage", "score": 0.7}],
            now=at("2026-11-22"),
        )
    rec(
        "offered_handoff",
        "m0",
        question="đăng ký kết hôn online được không",
        reason="repeated_abstain",
        now=at("2026-11-22"),
    )
    rec(
        "handoff",
        "m0",
        question="đăng ký kết hôn online được không",
        outcome="offline:closed_hours",
        reason="repeated_abstain",
        now=at("2026-11-22"),
    )
    rec(
        "abstained",
        "p1",
        question=f"cccd {RAW_ID} sđt {RAW_PHONE} mật khẩu là {SECRET} mà vẫn không vào được",
        reason="low_confidence",
        now=at("2026-11-22"),
    )
    rec(
        "out_of_scope",
        "x1",
        question="<script>alert('x')</script> thời tiết hôm nay",
        reason="out_of_scope",
        now=at("2026-11-22"),
    )
    rec("abstained", "x2", question='=HYPERLINK("http://evil")', reason="low_confidence", now=at("2026-11-22"))
    # Outside the period: never counted.
    rec("abstained", "old", question="câu hỏi tháng mười", now=at("2026-10-15"))


def read_csv(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.fixture
def filled(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'filled.sqlite3'}"
    store = Store(url)
    fill(store)
    store.close()
    return url


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = report_mod.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def all_output(out_dir: Path, stdout: str) -> str:
    return stdout + "".join(p.read_text(encoding="utf-8-sig") for p in sorted(out_dir.iterdir()))


def test_report_files_counts_groups_and_feedback(filled, index_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "--database-url", filled, "--out", str(out), "--lexical", *PERIOD)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["daily.csv", "feedback.csv", "groups.csv", "report.html"]

    daily = {row["day"]: row for row in read_csv(out / "daily.csv")}
    assert list(daily) == [f"2026-11-{d}" for d in range(20, 31)]  # first recorded day to --until, no gaps
    d20, d22 = daily["2026-11-20"], daily["2026-11-22"]
    assert (d20["answered"], d20["clarified"], d20["feedback_helpful"], d20["feedback_not_helpful"], d20["total"]) == (
        "2",
        "1",
        "1",
        "1",
        "5",
    )
    assert (d22["abstained"], d22["out_of_scope"], d22["offered_handoff"], d22["handoff"], d22["total"]) == (
        "5",
        "1",
        "1",
        "1",
        "8",
    )
    assert daily["2026-11-21"]["total"] == "0"

    groups = read_csv(out / "groups.csv")
    marriage = next(g for g in groups if "kết hôn" in g["representative"] or "ket hon" in g["representative"])
    assert (marriage["count"], marriage["conversations"], marriage["records"]) == ("3", "3", "5")
    assert marriage["kinds"] == "abstained=3; handoff=1; offered_handoff=1"
    assert marriage["group"] == "1"  # the biggest group comes first
    assert marriage["route"] == "uncovered:uncovered_marriage" and marriage["route_title"] == "Đăng ký kết hôn, ly hôn"
    assert marriage["closest_guide"] and float(marriage["closest_score"]) >= 0
    unhelpful = next(g for g in groups if g["representative"] == "kich hoat vneid")
    assert unhelpful["kinds"] == "feedback_not_helpful=1" and unhelpful["closest_guide"] == "vneid_activate"
    assert not any("tháng mười" in g["representative"] for g in groups)
    assert not any(g["representative"] == "quên mật khẩu vneid" for g in groups)  # answered and helpful

    feedback = {row["guide_id"]: row for row in read_csv(out / "feedback.csv")}
    assert feedback["vneid_activate"] == {
        "guide_id": "vneid_activate",
        "title": "Kích hoạt tài khoản định danh điện tử VNeID",
        "helpful": "0",
        "not_helpful": "1",
        "total": "1",
        "helpful_share": "0.0",
        "answered": "1",
    }
    assert (feedback["vneid_forgot_password"]["helpful"], feedback["vneid_forgot_password"]["helpful_share"]) == (
        "1",
        "1.0",
    )
    assert list(feedback) == ["vneid_activate", "vneid_forgot_password"]  # most "not helpful" first

    assert "13 lượt ghi nhận" in stdout and str(out / "report.html") in stdout


def test_nothing_personal_or_secret_reaches_any_output(filled, index_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "--database-url", filled, "--out", str(out), "--lexical", *PERIOD)
    assert code == 0
    everything = all_output(out, stdout)
    for raw in (RAW_ID, RAW_PHONE, SECRET, "0912", "07912"):
        assert raw not in everything
    assert "*********789" in everything and "[đã ẩn]" in everything


def test_html_is_escaped_self_contained_and_csv_formulas_are_defused(filled, index_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, "--database-url", filled, "--out", str(out), "--lexical", *PERIOD)[0] == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "=HYPERLINK(&quot;http://evil&quot;)", ""
    )  # no external resource
    assert "<link" not in page and "src=" not in page
    assert page.count("<rect") >= 4 and "Nhóm câu hỏi chưa trả lời được" in page
    assert '<meta charset="utf-8">' in page
    groups = read_csv(out / "groups.csv")
    formula = next(g for g in groups if "HYPERLINK" in g["representative"])
    assert formula["representative"].startswith("'=")


def test_empty_database_gives_a_clear_message_and_valid_empty_files(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    Store(url).ping()
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "--database-url", url, "--out", str(out), "--days", "7")
    assert code == 0
    assert "Chưa có lượt hỏi đáp nào" in stdout
    assert [list(r) for r in read_csv(out / "groups.csv")] == []
    assert (out / "daily.csv").read_text(encoding="utf-8-sig").strip() == ",".join(report_mod.DAILY_COLUMNS)
    assert (out / "feedback.csv").read_text(encoding="utf-8-sig").strip() == ",".join(report_mod.FEEDBACK_COLUMNS)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "Chưa có lượt hỏi đáp nào" in page


@pytest.mark.parametrize(
    "url, message",
    [
        ("sqlite:///{tmp}/missing/handoff.sqlite3", "không tìm thấy file cơ sở dữ liệu"),
        ("postgresql://nobody@127.0.0.1:1/none", "không đọc được cơ sở dữ liệu"),
        ("mysql://u@host/db", "không hỗ trợ"),
    ],
)
def test_bad_database_url_is_a_clear_error(tmp_path, capsys, url, message):
    code, stdout, err = run(capsys, "--database-url", url.format(tmp=tmp_path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith("LỖI: ") and message in err
    assert not (tmp_path / "missing").exists()  # a typo never creates an empty database
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args", [["--since", "28/11/2026"], ["--days", "0"], ["--since", "2026-11-29", "--until", "2026-11-28"]]
)
def test_bad_period_is_a_clear_error(filled, tmp_path, capsys, args):
    code, _, err = run(capsys, "--database-url", filled, "--out", str(tmp_path / "out"), *args)
    assert code == 2 and err.startswith("LỖI: ")


def test_period_selects_days(filled, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        run(
            capsys,
            "--database-url",
            filled,
            "--out",
            str(out),
            "--lexical",
            "--since",
            "2026-11-22",
            "--until",
            "2026-11-22",
        )[0]
        == 0
    )
    assert [r["day"] for r in read_csv(out / "daily.csv")] == ["2026-11-22"]
    assert read_csv(out / "feedback.csv") == []


def test_without_index_the_report_still_works_and_says_so(filled, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "--database-url", filled, "--out", str(out), "--lexical", *PERIOD)
    assert code == 0 and "make index" in stdout
    groups = read_csv(out / "groups.csv")
    assert all(g["closest_guide"] == "" for g in groups)
    marriage = next(g for g in groups if g["count"] == "3")
    assert marriage["top_guess"] == "uncovered_marriage"  # the bot's own guesses are still shown


def test_with_the_configured_encoder_groups_by_embedding(filled, index_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "--database-url", filled, "--out", str(out), *PERIOD)
    assert code == 0
    assert "embedding:hashing-256" in stdout  # DVC_EMBEDDING_MODEL=hashing in the tests


def test_chart_stacks_the_series_of_each_day():
    daily = [
        {
            "day": "2026-11-20",
            "answered": 3,
            "clarified": 1,
            "abstained": 2,
            "out_of_scope": 1,
            "offered_handoff": 0,
            "handoff": 1,
            "feedback_helpful": 0,
            "feedback_not_helpful": 0,
            "total": 8,
        },
        {
            "day": "2026-11-21",
            "answered": 0,
            "clarified": 0,
            "abstained": 0,
            "out_of_scope": 0,
            "offered_handoff": 0,
            "handoff": 0,
            "feedback_helpful": 0,
            "feedback_not_helpful": 0,
            "total": 0,
        },
    ]
    svg = chart_svg(daily)
    assert svg.count("<rect") == 4  # answered, clarified, abstained + out of scope, handoff; nothing for 0
    assert (
        "2026-11-20: trả lời 3, hỏi lại để chọn bài 1, không trả lời / ngoài phạm vi 3, chuyển tổng đài viên 1" in svg
    )
    assert "20/11" in svg and "21/11" in svg
