"""`iam init`: everything a new installation needs, made once and idempotently — the data
directory, the schema, the HMAC secret for API keys, a signing key, the system account
with its owner, and the registries of the settings the database lacks. It sits above the
domain packages because it touches all of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from iam.config import Settings
from iam.identity import server_secret
from iam.identity.accounts import NewAccount, create_account, system_account
from iam.registry import registries
from iam.store.db import make_engine, migrate, write_session
from iam.store.journal import ChangeJournal
from iam.tokens import signing


@dataclass(frozen=True)
class InitResult:
    created: bool
    account_id: str
    new_account: NewAccount | None
    messages: list[str]


def initialize(settings: Settings, *, account_name: str = "default",
               engine: Engine | None = None) -> InitResult:
    """Idempotent set-up: data dir, schema, HMAC secret, signing key, first account."""
    messages: list[str] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    migrate(settings.db_url)
    if server_secret.create_if_missing(settings):
        messages.append(f"created the API key secret {server_secret.secret_path(settings)}")
    if not signing.load_keys(settings.keys_dir):
        key = signing.generate_key(settings.keys_dir, alg=settings.signing_alg,
                                   issuer=settings.issuer)
        messages.append(f"created signing key {key.kid} ({key.alg})")
    secret = server_secret.load(settings)
    own_engine = engine is None
    engine = engine or make_engine(settings.db_url)
    try:
        with write_session(engine) as session:
            seeded = registries.seed(session, journal=ChangeJournal(),
                                     registries=settings.registries,
                                     explicit="registries" in settings.model_fields_set)
            messages.extend(f"added registry {name}" for name in seeded.added)
            existing = system_account(session)
            if existing is not None:
                return InitResult(False, existing.id, None, messages)
            # No service runs yet, hence no trail: what `init` makes is in its messages.
            new = create_account(session, journal=ChangeJournal(), secret=secret,
                                 name=account_name, system=True)
        messages.append(f"created account {new.account.id} with owner {new.owner.iam_id}")
        return InitResult(True, new.account.id, new, messages)
    finally:
        if own_engine:
            engine.dispose()
