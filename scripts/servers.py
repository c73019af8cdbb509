"""Start, wait for, and stop the processes: the action server, the Rasa server, the agent console.

Used by ``make run`` / ``make shell`` (scripts/run.sh), by ``make rasa-test`` and by the
end-to-end tests, so every path starts the bot the same way. Standard library only.

    python scripts/servers.py run [--rasa-port 5005] [--actions-port 5055] [--console-port 5080 | --no-console]
    python scripts/servers.py actions --actions-port 5055     # action server only (rasa test)
    python scripts/servers.py run-scaled [--replicas 2] [--port-base 5710]   # nginx + replicas (scripts/scaled.py)

Security (docs/channels.md, "Security"): Rasa's HTTP API needs a token in every mode: ``RASA_TOKEN``,
else ``var/rasa-token``, generated on the first run (mode 0600); it reaches Rasa through the
environment (scripts/rasa_run.py), never the command line, and the agent console gets it too. No
``--cors``: only the web chat routes answer CORS, for ``WEBCHAT_ALLOWED_ORIGINS``. Every server
runs with umask 077 and ``var/`` is made owner-only (0700/0600); ``scripts/retention.py`` runs at
start and then every ``DVC_RETENTION_INTERVAL_HOURS`` (24).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retention import lock_down  # scripts/ is not a package

ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
RASA_RUN = ROOT / "scripts" / "rasa_run.py"
ACT_PY = ROOT / ".venv-actions" / "bin" / "python"
TOKEN_FILE = ROOT / "var" / "rasa-token"
UMASK = 0o077
MODEL = ROOT / "models" / "dvc.tar.gz"
LOGS = ROOT / "var" / "logs"
# Loading the Rasa model takes ~40 s on 2 cores; TensorFlow import alone ~15 s. Generous bound.
RASA_START_TIMEOUT = 240
# The action server starts in ~3 s; loading the embedding model on warm-up ~15 s.
ACTIONS_START_TIMEOUT = 120


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "SANIC_HOST": "127.0.0.1",  # rasa-sdk binds 0.0.0.0 unless told otherwise
        }
    )
    return env


def rasa_token() -> str:
    """RASA_TOKEN, else the one in var/rasa-token, made (0600) on the first run."""
    token = (os.environ.get("RASA_TOKEN") or "").strip()
    if token:
        return token
    try:
        return TOKEN_FILE.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    TOKEN_FILE.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return TOKEN_FILE.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    print(f"generated Rasa's API token in {TOKEN_FILE} (set RASA_TOKEN to choose one)", flush=True)
    return token


def retention(wait: bool = False) -> subprocess.Popen:
    """scripts/retention.py in the background (or waited for): every store, logs, permissions."""
    log = (LOGS / "retention.log").open("ab")
    process = subprocess.Popen(
        [str(ACT_PY), str(ROOT / "scripts" / "retention.py")],
        cwd=ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        umask=UMASK,
        start_new_session=True,
    )
    if wait:
        process.wait(timeout=600)
    return process


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _post(url: str, body: dict, timeout: float = 120.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def rasa_command(port: int, endpoints: Path) -> list[str]:
    """The Rasa server on loopback ``port`` with the API on, the trained model and ``endpoints``."""
    return [
        str(RASA_PY),
        str(RASA_RUN),
        "run",
        "--enable-api",
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(MODEL),
        "--credentials",
        "credentials.yml",
        "--endpoints",
        str(endpoints),
    ]


def actions_command(port: int) -> list[str]:
    """The action server on ``port``."""
    return [str(ACT_PY), "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)]


@dataclass
class Servers:
    rasa_port: int = 5005
    actions_port: int = 5055
    console_port: int = 5080
    processes: list[subprocess.Popen] = field(default_factory=list)
    rasa_token: str = field(default_factory=rasa_token)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def tracker_db(self) -> Path:
        """Rasa's conversations (SQLite): RASA_TRACKER_DB, else var/rasa-tracker[-<port>].sqlite3."""
        if os.environ.get("RASA_TRACKER_DB"):
            return Path(os.environ["RASA_TRACKER_DB"]).resolve()
        suffix = "" if self.rasa_port == 5005 else f"-{self.rasa_port}"
        return ROOT / "var" / f"rasa-tracker{suffix}.sqlite3"

    def endpoints_file(self) -> Path:
        """endpoints.yml for the default ports; otherwise a generated copy with this run's ports and files."""
        if self.actions_port == 5055 and self.rasa_port == 5005 and not os.environ.get("RASA_TRACKER_DB"):
            (ROOT / "var").mkdir(parents=True, exist_ok=True)
            return ROOT / "endpoints.yml"
        path = ROOT / "var" / f"endpoints-{self.actions_port}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tracker_db.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'action_endpoint:\n  url: "{self.actions_url}/webhook"\n'
            f'tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: "{self.tracker_db}"\n',
            encoding="utf-8",
        )
        return path

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        LOGS.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_down(ROOT / "var")
        path = LOGS / f"{name}-{getattr(self, name + '_port')}.log"
        log = path.open("ab")
        path.chmod(0o600)
        process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=UMASK,
        )
        self.processes.append(process)
        return process

    def _wait(self, name: str, process: subprocess.Popen, url: str, ready, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {LOGS}/{name}-*.log")
            status, body = _get(url)
            if status == 200 and ready(body):
                return
            time.sleep(1.0)
        raise RuntimeError(f"{name} not ready after {timeout} s; see {LOGS}/{name}-*.log")

    def start_actions(self) -> None:
        process = self._spawn("actions", actions_command(self.actions_port))
        self._wait("actions", process, f"{self.actions_url}/health", lambda b: True, ACTIONS_START_TIMEOUT)
        self.warm_up()

    def warm_up(self) -> None:
        """Load the embedding model and index now, so the first citizen does not wait for it."""
        tracker = {
            "sender_id": "warm-up",
            "slots": {},
            "latest_message": {"text": "kích hoạt VNeID", "intent": {"name": "ask_procedure"}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        }
        status, body = _post(
            f"{self.actions_url}/webhook",
            {
                "next_action": "action_answer_question",
                "sender_id": "warm-up",
                "tracker": tracker,
                "domain": {},
                "version": "3.6.21",
            },
            timeout=ACTIONS_START_TIMEOUT,
        )
        if status != 200:
            raise RuntimeError(f"action server warm-up failed: HTTP {status} {body[:300]!r}")

    def start_rasa(self) -> None:
        if not MODEL.exists():
            raise RuntimeError(f"no trained model at {MODEL}: run `make train`")
        process = self._spawn(
            "rasa",
            rasa_command(self.rasa_port, self.endpoints_file()),
            {"RASA_TOKEN": self.rasa_token},
        )

        def loaded(body: bytes) -> bool:
            try:
                return bool(json.loads(body).get("model_file"))
            except ValueError:
                return False

        self._wait("rasa", process, f"{self.rasa_url}/status?token={self.rasa_token}", loaded, RASA_START_TIMEOUT)

    def kill(self, name: str) -> None:
        """Kill the Rasa server ("rasa") or the action server ("actions") as a crash would (SIGKILL)."""
        program = {"rasa": [str(RASA_PY), str(RASA_RUN)], "actions": [str(ACT_PY), "-m", "rasa_sdk"]}[name]
        for process in list(self.processes):
            if process.args[: len(program)] == program:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
                self.processes.remove(process)

    def start_console(self) -> None:
        """The agent console and API (python -m handoff.server), talking to this Rasa server."""
        process = self._spawn(
            "console",
            [str(ACT_PY), "-m", "handoff.server"],
            {"HANDOFF_PORT": str(self.console_port), "RASA_URL": self.rasa_url, "RASA_TOKEN": self.rasa_token},
        )
        self._wait("console", process, f"{self.console_url}/health", lambda b: True, ACTIONS_START_TIMEOUT)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["run", "actions", "shell", "run-scaled"])
    parser.add_argument("--rasa-port", type=int, default=int(os.environ.get("RASA_PORT", 5005)))
    parser.add_argument("--actions-port", type=int, default=int(os.environ.get("ACTIONS_PORT", 5055)))
    parser.add_argument("--console-port", type=int, default=int(os.environ.get("HANDOFF_PORT", 5080)))
    parser.add_argument("--no-console", action="store_true", help="do not start the agent console")
    parser.add_argument("--replicas", type=int, default=2, help="run-scaled: Rasa servers and action servers each")
    parser.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("SCALED_PORT_BASE", 5710)),
        help="run-scaled: nginx listens here, the replicas above it (docs/scale.md)",
    )
    args = parser.parse_args(argv)
    os.umask(UMASK)
    if args.mode == "run-scaled":
        import scaled

        if args.replicas < 1:
            parser.error("--replicas must be at least 1")
        return scaled.main(args.replicas, args.port_base)
    servers = Servers(args.rasa_port, args.actions_port, args.console_port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        started = time.time()
        LOGS.mkdir(parents=True, exist_ok=True, mode=0o700)
        retention(wait=True)  # also makes var/ owner-only before anything is written
        print(f"starting the action server on {servers.actions_url} ...", flush=True)
        servers.start_actions()
        if args.mode == "actions":
            print(f"action server ready ({time.time() - started:.0f} s)", flush=True)
            while True:
                time.sleep(3600)
        if args.mode == "shell":
            return subprocess.call(
                [str(RASA), "shell", "-m", str(MODEL), "--endpoints", str(servers.endpoints_file())],
                cwd=ROOT,
                env=_env(),
            )
        print(f"starting the Rasa server on {servers.rasa_url} (about a minute) ...", flush=True)
        servers.start_rasa()
        console = ""
        if not args.no_console:
            servers.start_console()
            console = (
                f"  Agent console: {servers.console_url}/console (create an account first: "
                f"`.venv-actions/bin/python -m handoff.admin create-agent <name>`)\n"
            )
        print(
            f"\nready in {time.time() - started:.0f} s. Chat with the bot:\n"
            f"  curl -s {servers.rasa_url}/webhooks/rest/webhook -H 'Content-Type: application/json' "
            f'-d \'{{"sender":"u1","message":"chào bạn"}}\'\n'
            f"  web chat: {servers.rasa_url}/webhooks/webchat/demo, or `make shell` in another terminal.\n"
            f"{console}  Logs: {LOGS}. Rasa's HTTP API needs ?token= (RASA_TOKEN or {TOKEN_FILE}). "
            f"Ctrl-C stops every server.",
            flush=True,
        )
        every = float(os.environ.get("DVC_RETENTION_INTERVAL_HOURS") or 24) * 3600
        next_retention = time.time() + every
        while all(p.poll() is None for p in servers.processes):
            if time.time() >= next_retention:
                retention()
                next_retention = time.time() + every
            time.sleep(1.0)
        print("a server stopped unexpectedly; see the logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    finally:
        # a second SIGTERM / Ctrl-C must not cut the clean-up short and leave a server running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        servers.stop()


if __name__ == "__main__":
    sys.exit(main())
