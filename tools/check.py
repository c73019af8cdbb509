"""Check the staff-written guides before publishing: ``python -m tools.check``.

Usage::

    python -m tools.check [--knowledge DIR] [--review-months 6]

Prints every problem as ``file:line: LỖI|cảnh báo: message`` (in Vietnamese, for the staff who
write the guides), then a summary line. Exit status 1 when there is at least one error (a guide
with an error is left out of the index by ``make index``), 0 when there are only warnings.

Everything :func:`retrieval.documents.load_guides` reports is included (bad YAML, missing or
empty required fields, duplicate ids, text not in Unicode NFC, links that are not http(s)),
plus the checks below, which need no embedding model and run in about a second:

* unknown placeholders such as ``{hotlne}`` (error: the bot would show the braces verbatim);
* fewer than :data:`MIN_QUESTIONS` sample questions (warning);
* tags that are not text, e.g. an unquoted ``1022`` read by YAML as a number (warning);
* ``updated`` not a date (warning);
* ``reviewed`` (when staff last checked the guide against the facts) missing or not a date
  (error), or older than ``review_months`` of ``knowledge/outdated.yml`` / ``--review-months``
  (warning); ``legal`` (the legal texts the guide relies on, may be ``[]``) missing (error);
* outdated terms and claims listed in ``knowledge/outdated.yml`` ("thị trấn", "Sở Tư pháp" near
  "lý lịch tư pháp", ...), in the text and in ``legal``, and figures the facts sheet marks
  unconfirmed stated without "chưa có xác nhận" (error; :mod:`retrieval.outdated`); sections listed
  under ``exceptions`` (history in the past tense) are exempt from the outdated terms;
* ``{hotline_hours}`` not written as "({hotline_hours})" (error: with no hours configured the
  bot drops the brackets, anything else would leave a hole in the sentence);
* the province hotline number written out in the answer text instead of ``{hotline}`` (warning;
  not in ``exceptions`` sections);
* configured placeholder values (``PROVINCE_NAME``...) that are outdated terms (error);
* sample questions that are near-duplicates of another guide's (or routing entry's) sample
  questions (warning, see :data:`NEAR_DUPLICATE`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import unicodedata
from pathlib import Path


from retrieval.documents import (
    ROUTING_FILE,
    GuideError,
    load_guides,
)
from retrieval.outdated import RULES_FILE, Block, Rules, load_rules, scan

from tools.check_files import (
    NEAR_DUPLICATE,
    FileFacts,
    QuestionRef,
    Report,
    check_guide_file,
    routing_questions,
)
from tools.check_messages import display_path, explain_yaml, format_problem
from tools.duplicates import near_duplicates


def check_knowledge(
    folder: Path,
    review_months: int | None = None,
    today: dt.date | None = None,
    placeholders: dict[str, str] | None = None,
) -> Report:
    """Check every guide in ``folder`` and its routing.yml.

    Args:
        folder: The knowledge folder.
        review_months: Warn about guides not reviewed for this many months (default: ``review_months``
            of knowledge/outdated.yml).
        today: The date to measure age from (default: today).
        placeholders: The configured ``{hotline}``-style values (``Hotline.placeholders()``), checked
            against the outdated terms too; None skips that check.

    Returns:
        The report, problems sorted by file and line.
    """
    folder = Path(folder)
    report = Report(folder)
    if not folder.is_dir():
        report.problems.append(GuideError(str(folder), 0, "không tìm thấy thư mục hướng dẫn"))
        return report
    today = today or dt.date.today()
    rules, rule_errors = load_rules(folder)
    months = review_months if review_months is not None else rules.review_months
    report.problems += [GuideError(str(folder / RULES_FILE), line, message) for line, message in rule_errors]
    report.problems += _placeholder_value_problems(placeholders or {}, rules)
    guides, problems = load_guides(folder)
    report.guides = sum(g.kind == "guide" for g in guides)
    report.routes = sum(g.kind != "guide" for g in guides)
    questions: list[QuestionRef] = []
    facts: dict[str, FileFacts] = {}
    files = [p for p in sorted(folder.glob("*.md")) if p.name.lower() != "readme.md"]
    report.files = len(files)
    extra: list[GuideError] = []
    for path in files:
        extra += check_guide_file(path, today, rules, months, questions, facts)
    questions += routing_questions(folder)

    # Point documents.py's whole-file messages at the line concerned.
    for problem in problems:
        fact = facts.get(problem.path)
        if fact and "bị trùng" in problem.message and fact.id_line:
            problem = GuideError(problem.path, fact.id_line, problem.message, problem.severity)
        elif fact and "NFC" in problem.message and fact.first_non_nfc_line:
            problem = GuideError(
                problem.path,
                fact.first_non_nfc_line,
                problem.message + " (gõ lại bằng bảng mã Unicode dựng sẵn)",
                problem.severity,
            )
        elif "YAML sai cú pháp" in problem.message:
            problem = GuideError(problem.path, problem.line, explain_yaml(problem.message), problem.severity)
        report.problems.append(problem)
    report.problems += extra

    for misplaced, other, value in near_duplicates(questions):
        report.problems.append(
            GuideError(
                misplaced.path,
                misplaced.line,
                f"câu hỏi mẫu có thể 'lấy' câu hỏi của hướng dẫn khác: \"{misplaced.text}\" ({misplaced.label}) "
                f'gần trùng với "{other.text}" ({other.label}, {display_path(other.path)}:{other.line}), độ giống '
                f"{value:.2f} ≥ {NEAR_DUPLICATE} (gần như cùng chữ khi bỏ dấu, dấu câu, viết tắt), nên chatbot "
                "không phân biệt được hai bài. Sửa câu này cho đặc trưng hơn, hoặc bỏ ở bài không đúng chủ đề",
                "warning",
            )
        )
    report.problems.sort(key=lambda p: (display_path(p.path), p.line, p.severity != "error"))
    return report


# Which environment variable sets each placeholder (core/settings.py), for messages.
PLACEHOLDER_VARIABLES = {
    "hotline": "HOTLINE_NUMBER",
    "hotline_name": "HOTLINE_NAME",
    "hotline_hours": "HOTLINE_HOURS",
    "province": "PROVINCE_NAME",
}


def _placeholder_value_problems(values: dict[str, str], rules: Rules) -> list[GuideError]:
    """Configured values that would print an outdated term into every guide (PROVINCE_NAME=Bình Dương)."""
    problems = []
    for key, value in values.items():
        variable = PLACEHOLDER_VARIABLES.get(key, key)
        block = Block(unicodedata.normalize("NFC", value), "", [(0, 0)])
        for found in scan([block], rules):
            problems.append(GuideError(f"cấu hình {variable}={value!r}", 0, found.message))
    return problems


def summary(report: Report) -> str:
    """The last line printed: counts and what to do next.

    Args:
        report: A finished report.

    Returns:
        A Vietnamese summary line.
    """
    line = (
        f"Đã kiểm tra {report.files} tệp hướng dẫn ({report.guides} hợp lệ) và {report.routes} mục "
        f"trong {ROUTING_FILE}: {len(report.errors)} lỗi, {len(report.warnings)} cảnh báo."
    )
    if report.errors:
        return line + " Bài có lỗi sẽ KHÔNG được đưa lên chatbot: sửa hết lỗi rồi chạy lại."
    if report.warnings:
        return line + " Không có lỗi; nên xem lại các cảnh báo trước khi đăng bài (make index)."
    return line + " Mọi bài đều ổn, có thể đăng bài (make index)."


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        1 when there is an error, else 0.
    """
    from core.settings import load_settings

    parser = argparse.ArgumentParser(
        prog="python -m tools.check", description="Kiểm tra các bài hướng dẫn trong thư mục knowledge/"
    )
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="thư mục hướng dẫn (mặc định: DVC_KNOWLEDGE_DIR hoặc knowledge/)"
    )
    parser.add_argument(
        "--review-months",
        type=int,
        default=None,
        help="cảnh báo bài chưa rà soát lại (trường 'reviewed') quá số tháng này "
        f"(mặc định: review_months trong knowledge/{RULES_FILE})",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    folder = args.knowledge or settings.knowledge_dir
    report = check_knowledge(folder, review_months=args.review_months, placeholders=settings.hotline.placeholders())
    for problem in report.problems:
        print(format_problem(problem))
    print(summary(report))
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
