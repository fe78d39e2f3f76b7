"""Load: fifty members at once against the production stack, with locust.

    python bench/load.py prepare --out members.json      # with the stack's DATABASE_URL etc.
    python bench/load.py run --host https://127.0.0.1:8443 --members members.json \\
        [--users 50] [--duration 5m] [--ca cert.pem]

Needs the `load` extra (`pip install -e '.[load]'`: locust). `prepare` adds the members
(full-member platforms, each with an API key, a registered Ed25519 signing key and a portal
account) to the hub's database, through the hub's own services, and writes what locust needs.
`run` runs bench/locustfile.py headless and prints, per operation, the requests, throughput
and p50/p95/p99 latency, with every 5xx; it exits 1 if there was any 5xx. docs/benchmarks.md
has the figures and the command that produced them.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Bench accounts on a throwaway hub.
LOAD_PASSWORD = "load-member-password-1"


def prepare(count: int, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")
    import django

    django.setup()
    import datetime as dt

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.utils import timezone

    from accounts import services
    from accounts.audit import AuditContext
    from accounts.models import ApiKeyScope, Organisation, User

    context = AuditContext.system()
    members = []
    for number in range(1, count + 1):
        slug = f"load-{number:02d}"
        org = Organisation.objects.filter(slug=slug).first() or services.organisation_create(
            slug=slug,
            name=f"Load Member {number:02d}",
            kind="platform",
            country="FR",
            tier="full",
            context=context,
        )
        email = f"admin@{slug}.example"
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, LOAD_PASSWORD, full_name=f"Load admin {number:02d}"
        )
        services.membership_add(user=user, organisation=org, role="admin", context=context)
        _, api_key = services.api_key_issue(
            organisation=org,
            name="load",
            role="admin",
            scope=ApiKeyScope.READ_WRITE,
            expires_at=None,
            context=context,
        )
        private_key = Ed25519PrivateKey.generate()
        raw_public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        signing_key = services.signing_key_register(
            organisation=org,
            public_key=base64.b64encode(raw_public).decode(),
            name="load",
            valid_from=timezone.now() - dt.timedelta(days=1),
            context=context,
        )
        raw_private = private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        members.append(
            {
                "slug": slug,
                "api_key": api_key,
                "email": email,
                "password": LOAD_PASSWORD,
                "key_id": signing_key.key_id,
                "private_key": base64.b64encode(raw_private).decode(),
            }
        )
    out.write_text(json.dumps(members))
    print(f"{len(members)} members written to {out}")


def _table(stats_csv: Path, statuses: dict[str, dict[str, int]], seconds: float) -> str:
    lines = [
        "| operation | requests | per second | p50 ms | p95 ms | p99 ms | failures | 5xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with stats_csv.open() as handle:
        for row in csv.DictReader(handle):
            name = row["Name"]
            label = f"{row['Type']} {name}" if row["Type"] else name
            errors = sum(n for s, n in statuses.get(name, {}).items() if s.startswith("5"))
            if name == "Aggregated":
                errors = sum(
                    n for by in statuses.values() for s, n in by.items() if s.startswith("5")
                )
                label = "**all**"
            lines.append(
                f"| {label} | {int(row['Request Count']):,} | {float(row['Requests/s']):,.1f} | "
                f"{row['50%']} | {row['95%']} | {row['99%']} | {row['Failure Count']} | {errors} |"
            )
    lines.append(f"\n{seconds:.0f} s of load")
    return "\n".join(lines)


def run(host: str, members: Path, users: int, duration: str, ca: str | None) -> int:
    work = Path(tempfile.mkdtemp(prefix="hashfed-load-"))
    statuses_path = work / "statuses.json"
    env = {
        **os.environ,
        "HASHFED_LOAD_MEMBERS": str(members),
        "HASHFED_LOAD_STATUSES": str(statuses_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if ca:
        env["HASHFED_LOAD_CA"] = ca
    locust = Path(sys.executable).with_name("locust")
    command = [
        str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--host", host, "--headless",
        "-u", str(users), "-r", str(max(users // 5, 1)), "-t", duration,
        "--csv", str(work / "load"), "--only-summary", "--stop-timeout", "10",
    ]  # fmt: skip
    print("$", " ".join(command))
    done = subprocess.run(command, env=env, cwd=ROOT)
    statuses = json.loads(statuses_path.read_text()) if statuses_path.exists() else {}
    seconds = _seconds(duration)
    print(_table(work / "load_stats.csv", statuses, seconds))
    server_errors = sum(n for by in statuses.values() for s, n in by.items() if s.startswith("5"))
    if server_errors:
        print(f"{server_errors} responses were 5xx", file=sys.stderr)
        return 1
    return 0 if done.returncode in (0, 1) else done.returncode


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_args = commands.add_parser("prepare", help="add the load members to the hub")
    prepare_args.add_argument("--count", type=int, default=50)
    prepare_args.add_argument("--out", type=Path, default=Path("members.json"))
    run_args = commands.add_parser("run", help="run locust against a served hub")
    run_args.add_argument("--host", required=True)
    run_args.add_argument("--members", type=Path, default=Path("members.json"))
    run_args.add_argument("--users", type=int, default=50)
    run_args.add_argument("--duration", default="5m")
    run_args.add_argument("--ca", help="the TLS certificate to trust (the stack's own)")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.count, args.out)
        return 0
    return run(args.host, args.members.resolve(), args.users, args.duration, args.ca)


if __name__ == "__main__":
    sys.exit(main())
