import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _production_environment(tmp_path) -> dict[str, str]:
    """This process's environment without anything that turns development on."""
    unset = {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "HUB_ENV", "DJANGO_SETTINGS_MODULE"}
    return {k: v for k, v in os.environ.items() if k not in unset} | {
        "HUB_STATE_DIR": str(tmp_path)
    }


def _setting(env: dict[str, str], expression: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "federation.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_debug_https_and_secure_cookies_default_to_production(tmp_path):
    env = _production_environment(tmp_path)
    assert _setting(env, "settings.DEBUG") == "False"
    assert _setting(env, "settings.ALLOWED_HOSTS") == "[]"
    assert _setting(env, "(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE)") == (
        "(True, True)"
    )
    assert "smtp" in _setting(env, "settings.EMAIL_BACKEND")


def test_only_the_development_environment_turns_debug_on(tmp_path):
    env = _production_environment(tmp_path) | {"HUB_ENV": "development"}
    assert _setting(env, "settings.DEBUG") == "True"
    assert _setting(env, "settings.SESSION_COOKIE_SECURE") == "False"
    assert "console" in _setting(env, "settings.EMAIL_BACKEND")


def test_dev_serve_alone_asks_for_the_development_environment():
    dev = (ROOT / "dev").read_text()
    serve = dev[dev.index("    serve)") : dev.index(";;")]
    assert 'HUB_ENV="${HUB_ENV:-development}"' in serve
    assert "HUB_ENV" not in dev[dev.index(";;") :]


def test_production_settings_pass_the_deploy_checks(tmp_path):
    env = _production_environment(tmp_path)
    env.update(
        {
            "SECRET_KEY": "x" * 64 + "production-like-secret-key-for-check",
            "ALLOWED_HOSTS": "hub.example.org",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_openapi_schema_has_no_warnings(tmp_path):
    env = {**os.environ, "HUB_STATE_DIR": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
