from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.permissions import ACTIONS, ROLES_BY_KIND
from core.routes import all_routes, is_admin_route, non_api_routes

DOC = Path(settings.BASE_DIR) / "docs" / "permissions.md"


def render() -> str:
    columns = [(kind, role) for kind, roles in ROLES_BY_KIND.items() for role in roles]
    lines = [
        "# Permissions",
        "",
        "Generated from `accounts/permissions.py` by `python manage.py permission_matrix`; "
        "a test fails when this file and the code disagree.",
        "",
        "Every right is granted to a role in an organisation of a kind. On top of the matrix: "
        "an organisation that is not `active` is refused everything except the actions marked "
        "*while suspended* (and a suspended one only those); read-only API keys are refused "
        "every *write* action; objects of another organisation answer 404, never 403. "
        "Per-object grants (restricted banks, lawful requests) narrow what a granted role sees.",
        "",
        "## Actions × roles",
        "",
        "| action | " + " | ".join(f"{k}<br>{r}" for k, r in columns) + " | notes |",
        "|---|" + "---|" * len(columns) + "---|",
    ]
    for action in sorted(ACTIONS.values(), key=lambda a: a.name):
        cells = ["✔" if action.public or c in action.grants else "" for c in columns]
        notes = [
            n
            for n, on in (
                ("public", action.public),
                ("write", action.write),
                ("while suspended", action.while_suspended),
            )
            if on
        ]
        lines.append(
            f"| `{action.name}`<br>{action.description} | "
            + " | ".join(cells)
            + f" | {', '.join(notes)} |"
        )
    lines += ["", "## Routes", "", "| route | method | action |", "|---|---|---|"]
    audiences = non_api_routes()
    admin_seen = False
    for route in sorted(all_routes(), key=lambda r: r.pattern):
        if is_admin_route(route):
            if not admin_seen:
                lines.append(f"| `/admin/…` | any | {audiences['admin']} |")
                admin_seen = True
            continue
        if route.actions:
            for method, action_name in sorted(route.actions.items()):
                lines.append(f"| `/{route.pattern}` | {method} | `{action_name}` |")
        else:
            lines.append(f"| `/{route.pattern}` | GET | {audiences.get(route.name, '?')} |")
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Write docs/permissions.md from the permission matrix (--check: fail if stale)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true")

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        text = render()
        if check:
            if not DOC.exists() or DOC.read_text() != text:
                raise CommandError("docs/permissions.md is stale: run manage.py permission_matrix")
            return
        DOC.write_text(text)
        self.stdout.write(f"wrote {DOC}")
