from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from core.health import register_readiness_check

        register_readiness_check("hub_state", hub_state_check)
        register_readiness_check("witness_key", witness_key_check)


def hub_state_check() -> str | None:
    """The signing key and generated secret on disk must be this database's own: None when
    they are, else what is wrong."""
    from accounts.hub_identity import HubStateMismatch, hub_state_verify

    try:
        hub_state_verify()
    except HubStateMismatch as exc:
        return exc.message
    return None


def witness_key_check() -> str | None:
    """The witness key (cosigning peers' checkpoints) must be usable and this database's
    own, as the hub key: None when it is, else what is wrong."""
    from accounts.hub_identity import HubStateMismatch, witness_key_verify

    try:
        witness_key_verify()
    except HubStateMismatch as exc:
        return exc.message
    except (RuntimeError, OSError) as exc:
        return f"the witness key is not usable: {exc}"
    return None
