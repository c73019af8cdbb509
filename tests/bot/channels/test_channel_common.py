import asyncio
import sys
from pathlib import Path

import pytest

from bot.channels import http_utils
from bot.channels.delivery import ChoiceMemory, LRUSet, numbered_list, split_text, truncate
from bot.channels.tasks import BackgroundTasks
from core.settings import parse_bool

pytestmark = pytest.mark.asyncio


async def test_import_creates_no_http_client() -> None:
    """Importing the channel modules must not create HTTP clients or do I/O."""
    code = (
        "import aiohttp\n"
        "def forbidden(*a, **k):\n"
        "    raise SystemExit('HTTP client created at import time')\n"
        "aiohttp.ClientSession.__init__ = forbidden\n"
        "import bot.channels.zalo, bot.channels.messenger\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[3]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=str(root),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == "ok"


async def test_split_short_and_empty() -> None:
    assert split_text("  xin chào  ", 2000) == ["xin chào"]
    assert split_text("", 2000) == []
    assert split_text("   ", 10) == []


async def test_split_prefers_paragraph_then_line_then_sentence() -> None:
    text = "a" * 60 + "\n\n" + "b" * 30 + "\n" + "c" * 15
    assert split_text(text, 100) == ["a" * 60, "b" * 30 + "\n" + "c" * 15]
    text = "a" * 60 + "\n" + "b" * 30 + " " + "c" * 15
    assert split_text(text, 100) == ["a" * 60, "b" * 30 + " " + "c" * 15]

    text = "Câu thứ nhất khá dài. Câu thứ hai cũng dài! Câu ba?"
    parts = split_text(text, 30)
    assert parts[0] == "Câu thứ nhất khá dài."
    assert all(len(p) <= 30 for p in parts)


async def test_split_hard_cut_without_spaces() -> None:
    text = "x" * 4500
    parts = split_text(text, 2000)
    assert [len(p) for p in parts] == [2000, 2000, 500]
    assert "".join(parts) == text


async def test_split_keeps_every_word() -> None:
    words = [f"từ{i}" for i in range(2000)]
    text = " ".join(words)
    parts = split_text(text, 300)
    assert all(len(p) <= 300 for p in parts)
    assert " ".join(parts).split() == words


async def test_truncate() -> None:
    assert truncate("VNeID", 20) == "VNeID"
    short = truncate("Hướng dẫn đăng ký tài khoản định danh", 20)
    assert len(short) <= 20 and short.endswith("…")
    assert truncate("x" * 50, 20) == "x" * 19 + "…"


async def test_lru_set_bounded() -> None:
    seen = LRUSet(2)
    assert seen.seen("a") is False
    assert seen.seen("a") is True
    seen.seen("b")
    seen.seen("c")
    assert len(seen) == 2
    assert "a" not in seen
    with pytest.raises(ValueError):
        LRUSet(0)


async def test_parse_bool() -> None:
    assert parse_bool("true") is True
    assert parse_bool("0") is False
    assert parse_bool(None) is None
    assert parse_bool("maybe", default=False) is False


async def test_numbered_list_and_choice_memory() -> None:
    buttons = [
        {"title": "A", "payload": "/a"},
        {"title": "Link", "url": "https://x.vn"},
    ]
    text = numbered_list("Chọn", buttons)
    assert text.splitlines()[-2:] == ["1. A", "2. Link: https://x.vn"]

    memory = ChoiceMemory(capacity=1)
    memory.remember("u1", buttons)
    assert memory.resolve("u1", "hello") is None
    assert memory.resolve("u1", "2") is None  # links are not payloads
    assert memory.resolve("u1", "3") is None
    assert memory.resolve("u1", " 1. ") == "/a"
    assert memory.resolve("u1", "1") is None  # consumed
    memory.remember("u1", buttons)
    memory.remember("u2", buttons)  # capacity 1 evicts u1
    assert memory.resolve("u1", "1") is None
    assert memory.resolve("u2", "1") == "/a"


async def test_background_tasks_serialise_per_key_and_contain_errors() -> None:
    tasks = BackgroundTasks()
    order: list[str] = []

    def job(name: str, delay: float, fail: bool = False):
        async def run() -> None:
            await asyncio.sleep(delay)
            order.append(name)
            if fail:
                raise RuntimeError(name)

        return run

    tasks.submit("u1", job("u1-first", 0.05, fail=True))
    tasks.submit("u1", job("u1-second", 0.0))
    tasks.submit("u2", job("u2-only", 0.0))
    await tasks.wait_idle()
    assert order.index("u1-first") < order.index("u1-second")
    assert order[0] == "u2-only"  # other users are not blocked
    assert len(tasks) == 0


async def test_post_reports_network_errors() -> None:
    result = await http_utils.post("http://127.0.0.1:9/none", json_body={}, timeout=2)
    assert result.status == 0 and result.error
