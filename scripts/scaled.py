"""The scaled topology on one machine: ``make run-scaled`` (``scripts/servers.py run-scaled``).

    nginx :B (public paths + the REST webhook for loopback) ─┬─ Rasa :B+10 ─┐            ┌─ actions :B+20
                                                             └─ Rasa :B+11 ─┴─ nginx :B+2 ┴─ actions :B+21
    nginx :B+1 (Rasa's HTTP API, loopback only) ── agent console :B+30

* Rasa's SQL tracker store on PostgreSQL and its Redis lock store (one citizen's messages are
  processed one at a time, in order, whichever replica receives them); an endpoints file is
  generated in var/scaled/ like the test copy of scripts/servers.py;
* the handoff store (and the recorded decisions) on PostgreSQL;
* every action server reads the published index (models/index, reloaded on publish);
* a supervisor restarts any replica that dies (as Kubernetes or systemd would), and
  var/scaled/topology.json says which process serves which port (``make load`` reads it).

* the web chat mailbox, the REST outbox and the webhook dedupe on PostgreSQL, shared by every
  Rasa replica (bot/channels/shared_mailbox.py, dedupe.py): any replica serves any poll, and an
  agent's message reaches the citizen whichever replica holds the poll; the replies to Zalo and
  Messenger wait in the handoff database's outbox (bot/channels/outbox.py) until delivered.

Configuration (environment): ``SCALED_PORT_BASE`` (5710), ``DVC_PG_URL``
(``postgresql://postgres@127.0.0.1:5432``; the password, if any, inside the URL or in
``PGPASSWORD``), ``DVC_PG_DB`` (dvc_scale), ``DVC_REDIS_HOST`` / ``DVC_REDIS_PORT`` /
``DVC_REDIS_DB`` (127.0.0.1 / 6379 / 5) / ``DVC_REDIS_PASSWORD``. The backends, the ports and nginx's
config: scripts/scaled_config.py; this module builds the processes, starts and supervises them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from scaled_config import Backends, Ports, nginx_binary, nginx_conf
from servers import (
    actions_command,
    rasa_command,
    ACT_PY,
    Servers,
    ACTIONS_START_TIMEOUT,
    LOGS,
    MODEL,
    RASA_START_TIMEOUT,
    ROOT,
    UMASK,
    _env,
    _get,
    lock_down,
    rasa_token,
    retention,
)

SCALED = ROOT / "var" / "scaled"
# A conversation lock left by a killed replica expires after this many seconds (Rasa's default: 60),
# so the next message of that citizen waits at most this long on another replica. Far above any
# message's processing time (p99 ~2 s under load), so two messages of one citizen never overlap.
LOCK_LIFETIME_S = 20


@dataclass
class Proc:
    kind: str  # rasa / actions / console / nginx
    port: int
    cmd: list[str]
    env: dict[str, str]
    ready_url: str
    ready: object  # callable(body) -> bool
    timeout: float
    process: subprocess.Popen | None = None
    restarts: int = 0

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = LOGS / f"{self.kind}-{self.port}.log"
        log = path.open("ab")
        path.chmod(0o600)
        self.process = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env={**_env(), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=UMASK,
        )

    def wait_ready(self) -> None:
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} :{self.port} exited with {self.process.returncode}; "
                    f"see {LOGS}/{self.kind}-{self.port}.log"
                )
            status, body = _get(self.ready_url)
            if status == 200 and self.ready(body):
                if self.kind == "actions":  # load the embedding model and index before the first citizen
                    Servers(actions_port=self.port, rasa_token="-").warm_up()
                return
            time.sleep(1.0)
        raise RuntimeError(
            f"{self.kind} :{self.port} not ready after {self.timeout} s; see {LOGS}/{self.kind}-{self.port}.log"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass


@dataclass
class Topology:
    ports: Ports
    backends: Backends
    token: str = field(default_factory=rasa_token)
    procs: list[Proc] = field(default_factory=list)

    def _model_loaded(self, body: bytes) -> bool:
        try:
            return bool(json.loads(body).get("model_file"))
        except ValueError:
            return False

    def build(self) -> None:
        SCALED.mkdir(parents=True, exist_ok=True, mode=0o700)
        p, b = self.ports, self.backends
        endpoints = SCALED / "endpoints.yml"
        endpoints.write_text(b.endpoints_yaml(f"http://127.0.0.1:{p.actions_proxy}/webhook"), encoding="utf-8")
        conf = SCALED / "nginx.conf"
        conf.write_text(nginx_conf(p, SCALED), encoding="utf-8")
        secrets = {"DVC_PG_PASSWORD": b.pg_password, "DVC_REDIS_PASSWORD": b.redis_password}
        shared = {"HANDOFF_DATABASE_URL": b.database_url, "PGPASSWORD": b.pg_password}
        for port in p.actions:
            self.procs.append(
                Proc(
                    "actions",
                    port,
                    actions_command(port),
                    dict(shared),
                    f"http://127.0.0.1:{port}/health",
                    lambda body: True,
                    ACTIONS_START_TIMEOUT,
                )
            )
        for port in p.rasa:
            env = {
                **shared,
                **secrets,
                "RASA_TOKEN": self.token,
                "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME_S),
                "DVC_TRUSTED_PROXIES": "127.0.0.1",
                # shared by every replica (bot/channels/shared_mailbox.py, dedupe.py); the reply
                # outbox for Zalo/Messenger is in the handoff database (HANDOFF_DATABASE_URL)
                "WEBCHAT_DB": b.database_url,
                "REST_OUTBOX_DB": b.database_url,
                "DVC_DEDUPE_DB": b.database_url,
            }
            self.procs.append(
                Proc(
                    "rasa",
                    port,
                    rasa_command(port, endpoints),
                    env,
                    f"http://127.0.0.1:{port}/status?token={self.token}",
                    self._model_loaded,
                    RASA_START_TIMEOUT,
                )
            )
        self.procs.append(
            Proc(
                "console",
                p.console,
                [str(ACT_PY), "-m", "handoff.server"],
                {
                    **shared,
                    "HANDOFF_PORT": str(p.console),
                    "RASA_URL": f"http://127.0.0.1:{p.api}",
                    "RASA_TOKEN": self.token,
                },
                f"http://127.0.0.1:{p.console}/health",
                lambda body: True,
                ACTIONS_START_TIMEOUT,
            )
        )
        self.procs.append(
            Proc(
                "nginx",
                p.public,
                [nginx_binary(), "-c", str(conf), "-g", "daemon off;"],
                {},
                f"http://127.0.0.1:{p.public}/webhooks/webchat/widget.js",
                lambda body: True,
                60,
            )
        )

    def write_topology(self) -> None:
        data = {
            kind: [
                {"port": x.port, "pid": x.process.pid if x.process else None, "restarts": x.restarts}
                for x in self.procs
                if x.kind == kind
            ]
            for kind in ("rasa", "actions", "console", "nginx")
        }
        data.update(
            {
                "public_url": f"http://127.0.0.1:{self.ports.public}",
                "api_url": f"http://127.0.0.1:{self.ports.api}",
                "actions_url": f"http://127.0.0.1:{self.ports.actions_proxy}",
                "postgres": f"{self.backends.pg.hostname}:{self.backends.pg.port or 5432}/{self.backends.pg_db}",
                "redis": f"{self.backends.redis_host}:{self.backends.redis_port}/{self.backends.redis_db}",
            }
        )
        tmp = SCALED / "topology.json.tmp"
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(SCALED / "topology.json")

    def start(self) -> None:
        # action servers first (Rasa calls them), then both Rasa replicas at once, the console, nginx
        for group in (("actions",), ("rasa",), ("console", "nginx")):
            chosen = [x for x in self.procs if x.kind in group]
            for proc in chosen:
                proc.start()
            for proc in chosen:
                proc.wait_ready()
                print(f"  {proc.kind:<8} :{proc.port} ready", flush=True)
        self.write_topology()

    def supervise(self) -> None:
        """Restart what dies (a crash, or the load test's fault mode), forever."""
        while True:
            for proc in self.procs:
                if proc.process.poll() is not None:
                    print(f"{proc.kind} :{proc.port} exited ({proc.process.returncode}); restarting", flush=True)
                    proc.restarts += 1
                    proc.start()
                    self.write_topology()
                    try:
                        proc.wait_ready()
                        print(f"{proc.kind} :{proc.port} back (restart {proc.restarts})", flush=True)
                    except RuntimeError as exc:
                        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
            time.sleep(1.0)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        for proc in self.procs:
            if proc.process is None:
                continue
            try:
                proc.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.stop(signal.SIGKILL)
        (SCALED / "topology.json").unlink(missing_ok=True)


def main(replicas: int, base: int) -> int:
    if not MODEL.exists():
        print(f"ERROR: no trained model at {MODEL}: run `make train`", file=sys.stderr)
        return 1
    topology = Topology(Ports(base, replicas), Backends.from_env())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        started = time.time()
        LOGS.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_down(ROOT / "var")
        retention(wait=True)
        topology.backends.ensure_database()
        topology.backends.check_redis()
        topology.build()
        print(f"starting {replicas} action server(s), {replicas} Rasa server(s), the console and nginx ...", flush=True)
        topology.start()
        p, b = topology.ports, topology.backends
        print(
            f"\nready in {time.time() - started:.0f} s.\n"
            f"  public (nginx):      http://127.0.0.1:{p.public}  web chat demo is not public; widget "
            f"/webhooks/webchat/widget.js, REST /webhooks/rest/webhook (loopback only)\n"
            f"  Rasa replicas:       {', '.join(f'127.0.0.1:{x}' for x in p.rasa)} (HTTP API via nginx "
            f"http://127.0.0.1:{p.api}, token in RASA_TOKEN or var/rasa-token)\n"
            f"  action servers:      {', '.join(f'127.0.0.1:{x}' for x in p.actions)} (via nginx "
            f"http://127.0.0.1:{p.actions_proxy})\n"
            f"  agent console:       http://127.0.0.1:{p.console}/console\n"
            f"  PostgreSQL:          {b.pg.hostname}:{b.pg.port or 5432}/{b.pg_db} (trackers, handoffs, "
            "web chat and REST mailboxes, reply outbox, webhook dedupe)\n"
            f"  lock store:          Redis {b.redis_host}:{b.redis_port} db {b.redis_db}\n"
            f"  generated files:     {SCALED}/ (endpoints.yml, nginx.conf, topology.json); logs {LOGS}/\n"
            f"  load test:           make load LOAD_ARGS='--url http://127.0.0.1:{p.public} --users 20'\n"
            f"Crashed replicas are restarted. Ctrl-C stops everything.",
            flush=True,
        )
        topology.supervise()
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - said plainly, then everything is stopped
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        topology.stop()
    return 0
