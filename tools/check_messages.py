"""How ``python -m tools.check`` shows a problem to staff: ``file:line: LỖI: message`` with a short path,
and PyYAML's syntax errors explained in Vietnamese."""

from __future__ import annotations

import os
from pathlib import Path

from retrieval.documents import GuideError


# PyYAML's problem descriptions (English) -> what staff should do, in Vietnamese.
YAML_HINTS = (
    (
        "mapping values are not allowed",
        "có dấu hai chấm và dấu cách (': ') giữa nội dung; hãy đặt cả nội dung trong ngoặc kép",
    ),
    ("'\\t'", "có ký tự Tab; hãy lùi đầu dòng bằng dấu cách"),
    (
        "cannot start any token",
        "có ký tự không được đứng đầu nội dung (ví dụ Tab, @, `); hãy đặt nội dung trong ngoặc kép",
    ),
    ("expected ',' or ']'", "ngoặc vuông [...] chưa đóng hoặc thiếu dấu phẩy giữa các mục"),
    ("expected ',' or '}'", "ngoặc nhọn {...} chưa đóng; nếu nội dung bắt đầu bằng '{' hãy đặt trong ngoặc kép"),
    ("end of stream", "thiếu dấu ngoặc kép đóng"),
    ("quoted scalar", "thiếu dấu ngoặc kép đóng, hoặc dấu ngoặc kép bên trong nội dung"),
    ("could not find expected ':'", "thiếu dấu hai chấm sau tên trường, hoặc dòng bị lùi đầu dòng sai"),
    ("expected <block end>", "các dòng lùi đầu dòng không đều nhau, hoặc có dấu ngoặc kép chưa đóng ở phía trên"),
    ("block mapping", "các dòng lùi đầu dòng không đều nhau"),
    ("block sequence", "các dòng '  - ' của danh sách lùi đầu dòng không đều nhau"),
    ("alias", "có dấu '*' hoặc '&' ở đầu nội dung; hãy đặt nội dung trong ngoặc kép"),
)


def explain_yaml(message: str) -> str:
    """Add a Vietnamese explanation to documents.py's "YAML sai cú pháp: <PyYAML problem>".

    Args:
        message: A problem message.

    Returns:
        The message with what to fix, when the PyYAML problem is a known one; else unchanged.

    Example:
        >>> explain_yaml("YAML sai cú pháp: expected ',' or ']', but got ':'")[:60]
        'YAML sai cú pháp: ngoặc vuông [...] chưa đóng hoặc thiếu dấu'
    """
    prefix = "YAML sai cú pháp: "
    if not message.startswith(prefix):
        return message
    problem = message[len(prefix) :]
    hint = next((vi for en, vi in YAML_HINTS if en in problem), None)
    return f"{prefix}{hint} (PyYAML: {problem})" if hint else message


def display_path(path: str) -> str:
    """The path relative to the current folder when it is inside it (shorter messages).

    Args:
        path: A file path as recorded in a problem.

    Returns:
        The relative path, or ``path`` unchanged when it is elsewhere.
    """
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else path
    except (OSError, ValueError):
        return path


def format_problem(problem: GuideError) -> str:
    """One problem as ``file:line: LỖI: message`` (or ``cảnh báo``).

    Args:
        problem: The problem.

    Returns:
        The printable line.
    """
    label = "LỖI" if problem.severity == "error" else "cảnh báo"
    return f"{display_path(problem.path)}:{problem.line}: {label}: {problem.message}"
