"""The production stack, for real: `deploy/run-local` starts PostgreSQL's database,
gunicorn, a Celery worker and beat on Redis and nginx with TLS, and a member's day goes
through nginx over HTTPS, verified against the certificate the run made: the member
registers an Ed25519 key and submits a signed batch with the client, staff approve it in
admin (password, recovery code, the admin action), another member syncs with verification,
looks a hash up and has an image hashed, and an incident staff declare in admin reaches a
member's webhook through the worker. Then everything stops and no process is left.

Needs PostgreSQL (the suite's own server), Redis on 127.0.0.1:6379 and nginx
(/usr/sbin/nginx); CI's PostgreSQL pass has all three."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parents[2]
RUN_LOCAL = ROOT / "deploy" / "run-local"
NGINX = "/usr/sbin/nginx"
REDIS_URL = "redis://127.0.0.1:6379"


def _missing() -> str | None:
    database = django_settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL (the suite on DATABASE_URL=postgres://…; CI's PostgreSQL pass)"
    if not Path(NGINX).exists():
        return f"needs nginx at {NGINX} (apt-get install nginx; CI installs it)"
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        return f"needs Redis at {REDIS_URL}"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def _load_run_local():
    """deploy/run_local.py, for its look at which processes are left."""
    spec = importlib.util.spec_from_file_location("run_local", ROOT / "deploy" / "run_local.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _server_url() -> str:
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


class WebhookReceiver:
    """A member's webhook endpoint on 127.0.0.1: records what the hub's worker sends."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((dict(self.headers.items()), body))
                receiver.arrived.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stack(tmp_path):
    """The stack, started by deploy/run-local in a directory of this test's; stopped (and
    checked to be gone) by the test itself, or here if the test failed first."""
    base = tmp_path / "stack"
    env = {
        **os.environ,
        "HASHFED_VENV": str(Path(sys.executable).parent.parent),
        "HASHFED_STACK_PG_URL": f"{_server_url()}/postgres",
    }
    log = (tmp_path / "run-local.log").open("wb")
    supervisor = subprocess.Popen(
        # The member's webhook receiver is this test, on 127.0.0.1.
        [str(RUN_LOCAL), "start", "--dir", str(base), "--demo", "--allow-loopback-webhooks"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    info_file = base / "stack.json"
    deadline = time.monotonic() + 240
    info: dict = {}
    while not info.get("ready"):
        if supervisor.poll() is not None or time.monotonic() > deadline:
            supervisor.kill()
            supervisor.wait()
            logs = "".join(
                f"\n== {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                for p in sorted((base / "logs").glob("*.log"))
            )
            pytest.fail(
                f"the stack did not start:\n{(tmp_path / 'run-local.log').read_text()}{logs}"
            )
        if info_file.exists():
            info = json.loads(info_file.read_text())
        time.sleep(0.3)
    info["_supervisor"] = supervisor
    info["_env"] = env
    yield info
    if supervisor.poll() is None:
        subprocess.run([str(RUN_LOCAL), "stop", "--dir", str(base)], cwd=ROOT, env=env, timeout=120)
        supervisor.wait(timeout=30)


def hashfed(capsys, *argv: str) -> tuple[int, str, str]:
    """The member client's command line, in this process (its HTTPS context verifies
    against $SSL_CERT_FILE, the run's certificate authority)."""
    from hashfed_client import main

    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def demo_cast(stack) -> dict:
    """What `run-local --demo` wrote of the demo cast (manage.py load_demo's output): API
    keys by organisation/role, the password, and staff recovery codes."""
    out = Path(stack["demo"]).read_text()
    keys = {
        f"{m['org']}/{m['role']}": m["key"]
        for m in re.finditer(
            r"^(?P<org>[a-z-]+)\s+\S+\s+(?P<role>[a-z_]+)\s+\S+@\S+\s+(?P<key>\S+)$", out, re.M
        )
    }
    password = re.search(r"password for all: (\S+)\)", out)
    codes = re.search(r"recovery codes: (.+)$", out, re.M)
    assert keys and password and codes, out
    return {"keys": keys, "password": password.group(1), "recovery_codes": codes.group(1).split()}


class StaffBrowser:
    """Staff in Django admin through nginx, as a browser: session and CSRF cookies (Secure,
    so over HTTPS only), the CSRF token in each form, Origin and Referer headers."""

    def __init__(self, url: str, ca: str) -> None:
        self.url = url
        self.ca = ca
        self.session = requests.Session()

    def get(self, path: str, **params) -> requests.Response:
        response = self.session.get(self.url + path, params=params, verify=self.ca, timeout=30)
        response.raise_for_status()
        return response

    def post(self, path: str, data: dict) -> requests.Response:
        page = self.url + path
        data = {**data, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]}
        return self.session.post(
            page,
            data=data,
            headers={"Origin": self.url, "Referer": page},
            allow_redirects=False,
            verify=self.ca,
            timeout=60,
        )

    def sign_in(self, email: str, password: str, recovery_code: str) -> None:
        self.get("/admin/login/")
        response = self.post(
            "/admin/login/?next=/admin/",
            {"username": email, "password": password, "next": "/admin/"},
        )
        assert response.status_code == 302, response.text[:2000]
        # Staff pass a second factor before any admin page.
        pending = self.session.get(self.url + "/admin/", verify=self.ca, allow_redirects=False)
        assert pending.headers["Location"].startswith("/portal/two-factor/"), pending.headers
        self.get("/portal/two-factor/", next="/admin/")
        response = self.post("/portal/two-factor/", {"token": recovery_code, "next": "/admin/"})
        assert response.status_code == 302, response.text[:2000]
        assert "Site administration" in self.get("/admin/").text


def test_a_member_day_through_nginx_on_the_production_stack(stack, tmp_path, capsys, monkeypatch):
    started = time.monotonic()
    url, ca = stack["url"], stack["ca_certificate"]
    assert url.startswith("https://")
    health = requests.get(f"{url}/healthz", verify=ca, timeout=30)
    assert health.json()["checks"]["broker"] == "ok", health.text
    # The certificate is this run's own: without its authority, nothing verifies.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{url}/healthz", timeout=30)
    # Production settings: no debug page, secure cookies, HSTS, static files from nginx.
    environment = Path(stack["env_file"]).read_text().splitlines()
    assert {"HUB_ENV=production", "DEBUG=0", f"HUB_PUBLIC_URL={url}"} <= set(environment)
    page = requests.get(f"{url}/admin/login/", verify=ca, timeout=30)
    assert "Secure" in page.headers["Set-Cookie"]
    assert "max-age=31536000" in page.headers["Strict-Transport-Security"]
    missing = requests.get(f"{url}/no-such-page/", verify=ca, timeout=30)
    assert missing.status_code == 404 and "Traceback" not in missing.text
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page.text)
    assert stylesheet, page.text[:2000]
    css = requests.get(url + stylesheet.group(1), verify=ca, timeout=30)
    assert css.status_code == 200 and css.headers["Server"].startswith("nginx")
    assert "Expires" in css.headers  # nginx's `expires 7d`, not Django

    cast = demo_cast(stack)
    monkeypatch.setenv("SSL_CERT_FILE", ca)
    monkeypatch.setenv("HASHFED_URL", url)

    # Northwind registers a signing key of its own and submits a signed batch.
    monkeypatch.setenv("HASHFED_API_KEY", cast["keys"]["northwind/admin"])
    key_file = tmp_path / "northwind.pem"
    assert hashfed(capsys, "keygen", "--out", str(key_file))[0] == 0
    code, out, err = hashfed(capsys, "register-key", "--key", str(key_file), "--name", "stack")
    assert code == 0, err
    values = {
        "md5": secrets.token_hex(16),
        "sha256": secrets.token_hex(32),
        "pdq": secrets.token_hex(32),
    }
    rows = tmp_path / "batch.csv"
    rows.write_text(
        "signal_type,value,labels\n"
        + "".join(f"{kind},{value},tvec-instruction\n" for kind, value in values.items())
    )
    receipts = tmp_path / "receipts.ndjson"
    code, out, err = hashfed(
        capsys, "submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(rows),
        "--receipts", str(receipts),
    )  # fmt: skip
    assert code == 0, out + err
    assert len(receipts.read_text().splitlines()) == 3

    # Lakeside registers a webhook endpoint (the receiver this test runs).
    receiver = WebhookReceiver()
    try:
        endpoint = requests.post(
            f"{url}/api/v1/webhooks/",
            json={"url": receiver.url, "description": "stack"},
            headers={"Authorization": f"Bearer {cast['keys']['lakeside/admin']}"},
            verify=ca,
            timeout=30,
        )
        assert endpoint.status_code == 201, endpoint.text
        webhook_secret = endpoint.json()["secret"]

        # Staff sign in to admin and approve the batch with the admin action.
        staff = StaffBrowser(url, ca)
        staff.sign_in("governance@consortium.example", cast["password"], cast["recovery_codes"][0])
        selected = []
        for value in values.values():
            listing = staff.get("/admin/hashbank/submission/", q=value).text
            selected += re.findall(r'name="_selected_action" value="(\d+)"', listing)
        assert len(selected) == 3
        response = staff.post(
            "/admin/hashbank/submission/",
            {"action": "approve_selected", "_selected_action": selected, "index": "0"},
        )
        assert response.status_code == 302, response.text[:2000]
        assert "3 submissions approved." in staff.get("/admin/hashbank/submission/").text

        # Staff declare an incident; the worker tells every member's webhook.
        response = staff.post(
            "/admin/incidents/incident/add/",
            {
                "slug": "stack-drill",
                "title": "Stack drill",
                "description": "Declared in the production stack's smoke test.",
                "level": "2",
                "started_at_0": time.strftime("%Y-%m-%d", time.gmtime()),
                "started_at_1": time.strftime("%H:%M:%S", time.gmtime()),
                "_save": "Save",
                "_confirmed": "1",
            },
        )
        assert response.status_code == 302, response.text[:3000]
        assert receiver.arrived.wait(timeout=60), "no webhook delivery within 60 s"
        headers, body = receiver.received[0]
        assert headers["X-Hashfed-Event"] == "incident.declared"
        signed = f"{headers['X-Hashfed-Timestamp']}.".encode() + body
        expected = hmac.new(webhook_secret.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["X-Hashfed-Signature"] == f"v1={expected}"
        event = json.loads(body)
        assert (event["organisation"], event["data"]["incident"]) == ("lakeside", "stack-drill")
    finally:
        receiver.close()

    # Lakeside syncs the list, checking the hub's signatures, checkpoints and trees; the
    # beat signs a checkpoint over the new entries within seconds.
    monkeypatch.setenv("HASHFED_API_KEY", cast["keys"]["lakeside/analyst"])
    out_file, state = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    deadline = time.monotonic() + 60
    while True:
        code, out, err = hashfed(capsys, "sync", "--out", str(out_file), "--state", str(state))
        assert code == 0, err
        held = {json.loads(line)["value"] for line in out_file.read_text().splitlines()}
        if set(values.values()) <= held:
            break
        assert time.monotonic() < deadline, f"the synced list lacks the batch: {err}"
        time.sleep(2)

    # Lakeside looks a hash up; Pebble has an image hashed by the hub.
    code, out, err = hashfed(capsys, "lookup", f"md5:{values['md5']}")
    assert code == 0, err
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result["matches"], result
    monkeypatch.setenv("HASHFED_API_KEY", cast["keys"]["pebble/admin"])
    from tests.hashbank.test_lookup import image_bytes

    image = tmp_path / "frame.png"
    image.write_bytes(image_bytes("PNG"))
    code, out, err = hashfed(capsys, "hash", str(image))
    assert code == 0, err
    hashed = json.loads(out)
    assert hashed["md5"] == hashlib.md5(image.read_bytes()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hashed["pdq"]), hashed

    # Stop: everything goes, nothing is left, the database is dropped.
    run_local = _load_run_local()
    stop = subprocess.run(
        [str(RUN_LOCAL), "stop", "--dir", stack["dir"]],
        cwd=ROOT,
        env=stack["_env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert stack["_supervisor"].wait(timeout=30) == 0
    assert run_local.processes_in_sessions(set(stack["sessions"])) == []
    import psycopg

    with psycopg.connect(f"{_server_url()}/postgres") as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [stack["database"]]
        ).fetchone()
    assert row is None
    import redis

    assert redis.Redis.from_url(stack["broker_url"]).dbsize() == 0
    print(f"member day and stop: {time.monotonic() - started:.1f} s")
