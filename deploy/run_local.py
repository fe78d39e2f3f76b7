"""The production topology of deploy/README.md, run on this machine (see `deploy/run-local`).

Everything a run keeps is in one directory (given with --dir, else a new temporary one):

    hashfed.env      the environment every process gets, in deploy/hashfed.env.example's form
    secret-key       SECRET_KEY_FILE, generated
    demo.txt         with --demo: load_demo's accounts, API keys and staff recovery codes
    stack.json       what runs: pids, ports, URLs, the database and Redis database it holds
    tls/             a certificate authority made for this run (ca.pem) and nginx's certificate
    nginx/nginx.conf generated from deploy/nginx.conf (its server block, ports and paths changed)
    state/           HUB_STATE_DIR: the hub key, snapshots, the PDQ index
    static/          STATIC_ROOT, filled by collectstatic and served by nginx
    logs/            one log per process

Besides it, a run holds a fresh PostgreSQL database on the server at $HASHFED_STACK_PG_URL
(default postgres://postgres@127.0.0.1:5432/postgres, trust authentication), named
$HASHFED_STACK_DB or hf_stack_<random>, and one empty Redis database (1-14) on
$HASHFED_STACK_REDIS_URL (default redis://127.0.0.1:6379) for the broker, claimed with a key
that expires a minute after the run dies, so parallel runs never share a broker. Stopping
drops the one and empties the other.

This process supervises: it starts every process in a session of its own, writes
stack.json once nginx answers /healthz and the worker and beat are up, and stops everything
on SIGTERM or SIGINT (`run-local stop` sends SIGTERM) or when any process dies. Stopping
waits for each session to be empty, so nothing outlives the run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NGINX = os.environ.get("HASHFED_NGINX", "/usr/sbin/nginx")
PG_URL = os.environ.get("HASHFED_STACK_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HASHFED_STACK_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
# Redis databases a run may claim: 0 is everyone's default, 15 the worker tests'.
REDIS_DBS = range(1, 15)
REDIS_CLAIM_KEY = "hashfed:run-local:claim"
REDIS_CLAIM_SECONDS = 60
HOST = "127.0.0.1"
START_TIMEOUT = float(os.environ.get("HASHFED_STACK_START_TIMEOUT", "180"))
# Variables the hub reads that this script sets; inherited values (and their *_FILE forms,
# which federation.settings.env prefers) never reach the processes.
SETTINGS_OVERRIDDEN = {
    "DJANGO_SETTINGS_MODULE",
    "HUB_ENV",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "HUB_ORIGIN",
    "HUB_STATE_DIR",
    "HUB_SIGNING_KEY_FILE",
    "HUB_WITNESS_KEY_FILE",
    "DATABASE_URL",
    "DB_CONN_MAX_AGE",
    "CELERY_BROKER_URL",
    "EMAIL_BACKEND",
    "TRUSTED_PROXY_COUNT",
    "HUB_PUBLIC_URL",
    "PORTAL_BASE_URL",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "PDQ_INDEX_DIR",
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "FORWARDED_ALLOW_IPS",
    "WEBHOOK_ALLOW_LOOPBACK",
}
# The deploy check refusing WEBHOOK_ALLOW_LOOPBACK; --allow-loopback-webhooks accepts it.
LOOPBACK_CHECK = "core.E001"


def log(message: str) -> None:
    print(f"run-local: {message}", file=sys.stderr, flush=True)


class StackError(Exception):
    pass


# --- small helpers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a process from a later one given the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def processes_in_sessions(sessions: set[int]) -> list[tuple[int, str]]:
    """Live (not zombie) processes whose session is one of `sessions`, as (pid, name)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session in sessions and state != "Z":
            found.append((int(entry.name), name))
    return found


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# --- TLS ---------------------------------------------------------------------------------


def make_certificates(tls: Path) -> None:
    """A certificate authority for this run alone (tls/ca.pem, what clients verify against)
    and nginx's certificate for 127.0.0.1 and localhost, signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hashfed run-local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tls / "fullchain.pem").write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    write_private(
        tls / "privkey.pem",
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


# --- nginx -------------------------------------------------------------------------------


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise StackError(f"deploy/nginx.conf changed shape: expected {old!r} exactly once")
    return text.replace(old, new)


def nginx_config(base: Path, nginx_port: int, gunicorn_port: int) -> str:
    """deploy/nginx.conf with this run's ports, certificate and static folder: the same
    directives (TLS, body size, proxy headers, static), inside a main configuration that
    keeps nginx's pid, logs and temporary files in the run's directory."""
    server = (ROOT / "deploy" / "nginx.conf").read_text()
    server = replace_once(server, "server 127.0.0.1:8000;", f"server {HOST}:{gunicorn_port};")
    server = replace_once(server, "listen 443 ssl http2;", f"listen {HOST}:{nginx_port} ssl http2;")
    server = replace_once(server, "server_name hub.example.org;", f"server_name {HOST} localhost;")
    server = replace_once(
        server, "/etc/ssl/hashfed/fullchain.pem;", f"{base / 'tls' / 'fullchain.pem'};"
    )
    server = replace_once(
        server, "/etc/ssl/hashfed/privkey.pem;", f"{base / 'tls' / 'privkey.pem'};"
    )
    server = replace_once(server, "alias /opt/hashfed/staticfiles/;", f"alias {base / 'static'}/;")
    # Behind port 443 $host is the whole authority; on another port the hub must see the
    # port too, or the absolute links it builds from a request lose it.
    server = replace_once(
        server, "proxy_set_header Host $host;", "proxy_set_header Host $host:$server_port;"
    )
    nginx = base / "nginx"
    temp = "\n".join(
        f"    {kind}_temp_path {nginx / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Started by root, nginx's workers would become nobody, who cannot read the run's
    # folder (under a private temporary one); they stay the user who started the run.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return f"""# Generated by deploy/run-local from deploy/nginx.conf; edit that file instead.
{user}daemon off;
worker_processes 1;
pid {nginx / "nginx.pid"};
error_log {base / "logs" / "nginx-error.log"} warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {base / "logs" / "nginx-access.log"};
{temp}

{server}}}
"""


# --- PostgreSQL and Redis ----------------------------------------------------------------


def database_create(name: str | None) -> tuple[str, str]:
    import psycopg
    from psycopg import sql

    name = name or f"hf_stack_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            raise StackError(f"database {name} exists already; a run starts from a fresh one")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server = PG_URL.rsplit("/", 1)[0]
    return name, f"{server}/{name}"


def database_drop(name: str, server_url: str = PG_URL) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def redis_claim(owner: str) -> int:
    """Claim a Redis database for this run's broker: the one in $HASHFED_STACK_REDIS_DB, or
    the first of 1-14 nobody holds. The claim expires unless renewed (redis_renew), so a
    run killed without stopping frees its database a minute later."""
    import redis

    wanted = os.environ.get("HASHFED_STACK_REDIS_DB")
    for number in [int(wanted)] if wanted else REDIS_DBS:
        client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
        if client.set(REDIS_CLAIM_KEY, owner, nx=True, ex=REDIS_CLAIM_SECONDS):
            # Only an empty database: keys without a claim may be someone else's.
            if client.dbsize() == 1:
                return number
            client.delete(REDIS_CLAIM_KEY)
    raise StackError(f"no empty Redis database at {REDIS_URL} to claim (1-14 all hold keys)")


def redis_renew(number: int, owner: str) -> None:
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
    if client.get(REDIS_CLAIM_KEY) == owner.encode():
        client.expire(REDIS_CLAIM_KEY, REDIS_CLAIM_SECONDS)
    else:
        client.set(REDIS_CLAIM_KEY, owner, nx=True, ex=REDIS_CLAIM_SECONDS)


def redis_release(number: int, owner: str, url: str = REDIS_URL, lapsed: bool = False) -> None:
    """Empty the claimed database. With `lapsed`, also when the claim expired (its holder
    was killed): nobody else claims a database that is not empty."""
    import redis

    client = redis.Redis.from_url(f"{url}/{number}")
    holder = client.get(REDIS_CLAIM_KEY)
    if holder == owner.encode() or (lapsed and holder is None):
        client.flushdb()


# --- the stack ---------------------------------------------------------------------------


class Stack:
    def __init__(
        self, base: Path, keep_database: bool, allow_loopback: bool = False, demo: bool = False
    ) -> None:
        self.base = base
        self.demo = demo
        self.keep_database = keep_database
        self.allow_loopback = allow_loopback
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{base}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.database: str | None = None
        self.redis_db: int | None = None
        self.steps: set[str] = set()
        self.claim_released = threading.Event()
        self.info: dict[str, Any] = {}

    # Layout and environment.

    def prepare_directory(self) -> None:
        for sub in ("logs", "state", "static", "tls", "nginx/temp"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)

    def environment(self, public_url: str, gunicorn_port: int, database_url: str) -> dict[str, str]:
        state = self.base / "state"
        secret = self.base / "secret-key"
        if not secret.exists():
            write_private(secret, secrets.token_urlsafe(50).encode())
        netloc = public_url.split("://", 1)[1]
        loopback = {"WEBHOOK_ALLOW_LOOPBACK": "1"} if self.allow_loopback else {}
        return {
            **loopback,
            "HUB_ENV": "production",
            "DEBUG": "0",
            "SECRET_KEY_FILE": str(secret),
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "CSRF_TRUSTED_ORIGINS": public_url,
            "HUB_ORIGIN": netloc,
            "HUB_STATE_DIR": str(state),
            "HUB_SIGNING_KEY_FILE": str(state / "hub-ed25519.pem"),
            "DATABASE_URL": database_url,
            "DB_CONN_MAX_AGE": "60",
            "CELERY_BROKER_URL": f"{REDIS_URL}/{self.redis_db}",
            # No mail server here: emails go to the worker's and web processes' logs.
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "TRUSTED_PROXY_COUNT": "1",
            "HUB_PUBLIC_URL": public_url,
            "STATIC_ROOT": str(self.base / "static"),
            "GUNICORN_BIND": f"{HOST}:{gunicorn_port}",
            "GUNICORN_WORKERS": os.environ.get("HASHFED_STACK_WEB_WORKERS", "2"),
            "FORWARDED_ALLOW_IPS": HOST,
        }

    def process_environment(self, hub_env: dict[str, str]) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k not in SETTINGS_OVERRIDDEN
            and not (k.endswith("_FILE") and k[: -len("_FILE")] in SETTINGS_OVERRIDDEN)
        }
        path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        return {
            **inherited,
            **hub_env,
            "DJANGO_SETTINGS_MODULE": "federation.settings",
            "PYTHONPATH": os.pathsep.join(path),
            "HASHFED_STACK_DIR": str(self.base),
        }

    # Processes.

    def nginx_command(self, conf: Path) -> list[str]:
        """nginx with the run's prefix, configuration and error log."""
        return [
            NGINX,
            "-p",
            str(self.base / "nginx"),
            "-c",
            str(conf),
            "-e",
            str(self.base / "logs" / "nginx-error.log"),
        ]

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        logfile = (self.base / "logs" / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 — our own commands
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()
        self.processes[name] = process
        return process

    def spawn_step(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """A command that runs once beside the processes; the stack is ready when it
        succeeded."""
        self.steps.add(name)
        self.spawn(name, argv, env)

    def run_step(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        process = self.spawn(name, argv, env)
        while process.poll() is None:
            if STOP_REQUESTED:
                raise StackError(f"asked to stop during {name}")
            time.sleep(0.2)
        code = process.returncode
        del self.processes[name]
        if code != 0:
            tail = (self.base / "logs" / f"{name}.log").read_text()[-3000:]
            raise StackError(f"{name} failed ({code}):\n{tail}")

    def start(self) -> None:
        started = time.monotonic()
        self.prepare_directory()
        nginx_port, gunicorn_port = free_port(), free_port()
        while gunicorn_port == nginx_port:
            gunicorn_port = free_port()
        public_url = f"https://{HOST}:{nginx_port}"
        self.database, database_url = database_create(os.environ.get("HASHFED_STACK_DB"))
        log(f"database {self.database} created")
        self.redis_db = redis_claim(self.owner)
        threading.Thread(target=self.keep_claim, daemon=True).start()
        hub_env = self.environment(public_url, gunicorn_port, database_url)
        (self.base / "hashfed.env").write_text(
            "# The environment of this run's processes (deploy/hashfed.env.example's form).\n"
            + "".join(f"{k}={v}\n" for k, v in hub_env.items())
        )
        env = self.process_environment(hub_env)
        make_certificates(self.base / "tls")
        conf = self.base / "nginx" / "nginx.conf"
        conf.write_text(nginx_config(self.base, nginx_port, gunicorn_port))
        self.run_step(
            "nginx-test",
            [*self.nginx_command(conf), "-t", "-q"],
            env,
        )
        python = sys.executable
        script = str(Path(__file__).resolve())
        # deploy/README.md's steps before a start: check --deploy and migrate first, in one
        # Django process; collectstatic (and the demo cast) while the processes start.
        self.run_step("prepare", [python, script, "_prepare"], env)
        log("checked and migrated")
        self.spawn_step("collectstatic", [python, "manage.py", "collectstatic", "--no-input"], env)
        if self.demo:
            demo_env = {**env, "HASHFED_STACK_DEMO_FILE": str(self.base / "demo.txt")}
            self.spawn_step("demo", [python, script, "_demo"], demo_env)
        self.spawn(
            "web",
            [python, "-m", "gunicorn", "federation.wsgi", "-c", "deploy/gunicorn.conf.py"],
            env,
        )
        self.spawn(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "federation",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "2",
                "--hostname",
                f"worker-{nginx_port}@%h",
            ],
            env,
        )
        self.spawn(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "federation",
                "beat",
                "-l",
                "info",
                "--schedule",
                str(self.base / "state" / "celerybeat-schedule"),
            ],
            env,
        )
        self.spawn(
            "nginx",
            self.nginx_command(conf),
            env,
        )
        self.info = {
            "dir": str(self.base),
            "supervisor": {"pid": os.getpid(), "start_time": process_start_time(os.getpid())},
            "url": public_url,
            "admin": f"{public_url}/admin/",
            "healthz": f"{public_url}/healthz",
            "ca_certificate": str(self.base / "tls" / "ca.pem"),
            "env_file": str(self.base / "hashfed.env"),
            "demo": str(self.base / "demo.txt") if self.demo else None,
            "ports": {"nginx": nginx_port, "gunicorn": gunicorn_port},
            "database": self.database,
            "database_url": database_url,
            "broker_url": hub_env["CELERY_BROKER_URL"],
            # What `run-local stop` needs to clean up after a supervisor that was killed.
            "pg_server_url": PG_URL,
            "keep_database": self.keep_database,
            "redis": {"url": REDIS_URL, "db": self.redis_db, "owner": self.owner},
            "processes": {name: p.pid for name, p in self.processes.items()},
            # Every process runs in a session its first process leads; none may outlive stop.
            "sessions": sorted(p.pid for p in self.processes.values()),
            "logs": str(self.base / "logs"),
            "ready": False,
        }
        self.write_info()
        self.wait_ready(public_url)
        self.info["ready"] = True
        self.info["started_in_seconds"] = round(time.monotonic() - started, 1)
        self.write_info()
        seconds, ca = self.info["started_in_seconds"], self.info["ca_certificate"]
        log(f"ready in {seconds} s: {public_url}/ (clients verify with {ca})")

    def write_info(self) -> None:
        path = self.base / "stack.json"
        temp = path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(self.info, indent=2) + "\n")
        temp.replace(path)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and (name not in self.steps or process.returncode):
                tail = (self.base / "logs" / f"{name}.log").read_text()[-3000:]
                raise StackError(f"{name} exited ({process.returncode}):\n{tail}")

    def wait_ready(self, public_url: str) -> None:
        context = ssl.create_default_context(cafile=str(self.base / "tls" / "ca.pem"))
        deadline = time.monotonic() + START_TIMEOUT
        waiting = {"healthz", "worker", "beat", *self.steps}
        while waiting:
            if STOP_REQUESTED:
                raise StackError(f"asked to stop while starting (waiting for {sorted(waiting)})")
            self.check_alive()
            for step in self.steps & waiting:
                if self.processes[step].poll() == 0:
                    waiting.discard(step)
            if time.monotonic() > deadline:
                raise StackError(f"not ready within {START_TIMEOUT:.0f} s: {sorted(waiting)}")
            if "worker" in waiting and " ready." in self.log_text("worker"):
                waiting.discard("worker")
            if "beat" in waiting and "beat: Starting" in self.log_text("beat"):
                waiting.discard("beat")
            if "healthz" in waiting and port_open(self.info["ports"]["nginx"]):
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(  # noqa: S310 — https
                        f"{public_url}/healthz", context=context, timeout=10
                    ) as r,
                ):
                    if r.status == 200:
                        waiting.discard("healthz")
            time.sleep(0.3)

    def log_text(self, name: str) -> str:
        try:
            return (self.base / "logs" / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def supervise(self) -> int:
        """Until a signal or a process's death."""
        while not STOP_REQUESTED:
            try:
                self.check_alive()
            except StackError as exc:
                log(str(exc))
                return 1
            time.sleep(0.5)
        return 0

    def keep_claim(self) -> None:
        """Renew the Redis claim from the moment it is made until it is released (starting
        alone may take longer than the claim lasts)."""
        while not self.claim_released.wait(REDIS_CLAIM_SECONDS / 4):
            if self.redis_db is not None:
                with contextlib.suppress(Exception):
                    redis_renew(self.redis_db, self.owner)

    def stop(self) -> list[tuple[int, str]]:
        """Stop every process gently (nginx first, so no request reaches a stopping worker;
        Celery's warm shutdown lets running tasks finish), then whatever is left of their
        sessions by force. Returns what had to be killed."""
        sessions = {p.pid for p in self.processes.values()}
        order = ["nginx", "web", "beat", "worker"]
        gentle = {"nginx": signal.SIGQUIT}
        for name in sorted(self.processes, key=lambda n: order.index(n) if n in order else -1):
            process = self.processes[name]
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, gentle.get(name, signal.SIGTERM))
        begun = time.monotonic()
        deadline = begun + 40
        for name, process in self.processes.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
                log(f"{name} stopped ({time.monotonic() - begun:.1f} s)")
        killed = processes_in_sessions(sessions)
        for pid, _ in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()
        if self.database and not self.keep_database:
            try:
                database_drop(self.database)
            except Exception as exc:
                log(f"database {self.database} not dropped: {exc}")
        self.claim_released.set()
        if self.redis_db is not None:
            with contextlib.suppress(Exception):
                redis_release(self.redis_db, self.owner)
        if self.info:
            self.info.update(ready=False, stopped=True, killed=[list(k) for k in killed])
            self.write_info()
        return killed


STOP_REQUESTED = False


def _request_stop(signum: int, frame: object) -> None:
    global STOP_REQUESTED
    STOP_REQUESTED = True


# --- commands ----------------------------------------------------------------------------


def start_command(args: argparse.Namespace) -> int:
    if not Path(NGINX).exists():
        log(f"needs nginx at {NGINX} (Debian's package: apt-get install nginx)")
        return 2
    base = Path(args.dir).resolve() if args.dir else Path(tempfile.mkdtemp(prefix="hashfed-stack-"))
    base.mkdir(parents=True, exist_ok=True)
    if (base / "stack.json").exists() and json.loads((base / "stack.json").read_text()).get(
        "ready"
    ):
        log(f"{base} holds a running stack already (stop it first)")
        return 2
    if args.detach:
        return detach(base, args)
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGHUP, _request_stop)
    stack = Stack(
        base,
        keep_database=args.keep_database,
        allow_loopback=args.allow_loopback_webhooks,
        demo=args.demo,
    )
    code = 0
    try:
        stack.start()
        print(json.dumps(stack.info, indent=2), flush=True)
        code = stack.supervise()
    except StackError as exc:
        log(str(exc))
        code = 1
    except Exception as exc:
        log(f"{type(exc).__name__}: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        killed = stack.stop()
        if killed:
            log(f"killed after the grace period: {killed}")
        log(f"stopped; logs in {base / 'logs'}")
    return code


def detach(base: Path, args: argparse.Namespace) -> int:
    """Start the supervisor in the background and return once the stack is ready."""
    argv = [sys.executable, str(Path(__file__).resolve()), "start", "--dir", str(base)]
    if args.keep_database:
        argv.append("--keep-database")
    if args.allow_loopback_webhooks:
        argv.append("--allow-loopback-webhooks")
    if args.demo:
        argv.append("--demo")
    (base / "logs").mkdir(parents=True, exist_ok=True)
    with (base / "logs" / "supervisor.log").open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 — this script, again
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    while process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((base / "stack.json").read_text())
            if info.get("ready"):
                print(json.dumps(info, indent=2))
                return 0
        time.sleep(0.3)
    log(f"the stack did not start; see {base / 'logs' / 'supervisor.log'}")
    return 1


def stop_command(args: argparse.Namespace) -> int:
    directory = args.dir or os.environ.get("HASHFED_STACK_DIR")
    if not directory:
        log("which stack? --dir DIR (or $HASHFED_STACK_DIR)")
        return 2
    if not (Path(directory) / "stack.json").exists():
        log(f"no stack in {directory} (no stack.json)")
        return 2
    info = json.loads((Path(directory) / "stack.json").read_text())
    supervisor = info["supervisor"]
    sessions = set(info["sessions"])
    if process_start_time(supervisor["pid"]) == supervisor["start_time"]:
        os.kill(supervisor["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 90
        while process_start_time(supervisor["pid"]) == supervisor["start_time"]:
            if time.monotonic() > deadline:
                log(f"the supervisor ({supervisor['pid']}) is still stopping after 90 s")
                return 1
            try:
                stat = Path(f"/proc/{supervisor['pid']}/stat").read_text()
            except OSError:
                break
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                break  # exited; its parent has not collected it yet
            time.sleep(0.2)
    else:
        log("the supervisor is gone; stopping what is left of its processes")
    left = processes_in_sessions(sessions)
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    info = json.loads((Path(directory) / "stack.json").read_text())
    if not info.get("stopped"):
        # The supervisor died without cleaning up: its database and Redis claim go too.
        if not info.get("keep_database"):
            database_drop(info["database"], info["pg_server_url"])
        redis = info["redis"]
        redis_release(redis["db"], redis["owner"], redis["url"], lapsed=True)
        info.update(ready=False, stopped=True)
        (Path(directory) / "stack.json").write_text(json.dumps(info, indent=2) + "\n")
    if left:
        log(f"killed what was left: {left}")
        return 1
    log("stopped")
    return 0


def manage_command(args: argparse.Namespace) -> int:
    base = Path(args.dir or os.environ.get("HASHFED_STACK_DIR", "")).resolve()
    hub_env = dict(
        line.split("=", 1)
        for line in (base / "hashfed.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    stack = Stack(base, keep_database=True)
    env = stack.process_environment(hub_env)
    return subprocess.call(  # noqa: S603 — the operator's own manage.py command
        [sys.executable, "manage.py", *args.args], cwd=ROOT, env=env
    )


def prepare_command() -> int:
    """check --deploy and migrate in one Django process (two would each pay for starting
    Django)."""
    sys.path.insert(0, str(ROOT))
    import django
    from django.core import checks
    from django.core.management import call_command

    django.setup()
    # `check --deploy --fail-level WARNING`, accepting loopback webhooks when asked for.
    accepted = {LOOPBACK_CHECK} if os.environ.get("WEBHOOK_ALLOW_LOOPBACK") == "1" else set()
    found = [
        m
        for m in checks.run_checks(include_deployment_checks=True)
        if m.level >= checks.WARNING and not m.is_silenced()
    ]
    for message in found:
        print(
            ("accepted (--allow-loopback-webhooks): " if message.id in accepted else "")
            + str(message)
        )
    if any(m.id not in accepted for m in found):
        return 1
    call_command("migrate", interactive=False, verbosity=1)
    return 0


def demo_command() -> int:
    """manage.py load_demo, its output (the demo cast's accounts, API keys and staff
    recovery codes) to a file for the operator's eyes only."""
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    fd = os.open(
        os.environ["HASHFED_STACK_DEMO_FILE"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
    )
    with os.fdopen(fd, "w") as out:
        call_command("load_demo", stdout=out)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["_prepare"]:
        return prepare_command()
    if argv[:1] == ["_demo"]:
        return demo_command()
    parser = argparse.ArgumentParser(prog="deploy/run-local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    start = commands.add_parser("start", help="start the stack (the default command)")
    start.add_argument("--dir", help="the run's directory (default: a new temporary one)")
    start.add_argument("--detach", action="store_true", help="return once it is ready")
    start.add_argument(
        "--keep-database", action="store_true", help="do not drop the database on stop"
    )
    start.add_argument(
        "--demo",
        action="store_true",
        help="load the demo cast (manage.py load_demo); its accounts and keys go to DIR/demo.txt",
    )
    start.add_argument(
        "--allow-loopback-webhooks",
        action="store_true",
        help="let webhooks go to 127.0.0.1 (a receiver on this machine; never in production)",
    )
    stop = commands.add_parser("stop", help="stop the stack running in --dir")
    stop.add_argument("--dir", help="the run's directory (default: $HASHFED_STACK_DIR)")
    manage = commands.add_parser("manage", help="manage.py with the stack's environment")
    manage.add_argument("--dir", help="the run's directory (default: $HASHFED_STACK_DIR)")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["start", *argv]
    args = parser.parse_args(argv)
    if args.command == "stop":
        return stop_command(args)
    if args.command == "manage":
        return manage_command(args)
    return start_command(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
