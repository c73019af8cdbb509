"""scripts/rasa_run.py: the API token reaches Rasa's parser intact, whatever its first character."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import rasa_run


@pytest.mark.parametrize("token", ["abc123", "-bdD4starts-with-a-dash"])
def test_the_token_is_passed_as_one_argument(monkeypatch, token):
    seen: list[str] = []
    fake = types.ModuleType("rasa.__main__")
    fake.main = lambda: seen.extend(sys.argv)
    monkeypatch.setitem(sys.modules, "rasa.__main__", fake)
    monkeypatch.setenv("RASA_TOKEN", token)
    monkeypatch.setattr(sys, "argv", ["rasa_run.py", "run", "--enable-api"])
    rasa_run.main()
    assert seen == ["rasa", "run", "--enable-api", f"--auth-token={token}"]
    monkeypatch.delitem(sys.modules, "rasa.__main__")
    real = importlib.import_module("rasa.__main__")  # the real parser reads it as the token
    assert real.create_argument_parser().parse_args(seen[1:]).auth_token == token
