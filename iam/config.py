"""Settings: one class, read from `IAM_*` variables and an optional TOML file.

Bad configuration is refused when the settings are built, with a message that says
what to fix, so that a misconfigured service never starts half-working.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from iam.client_address import Network, parse_trusted_proxies
from iam.resources import roles_dir

DEFAULT_REGISTRY_SERVICE = "registry.local"


class Registry(BaseModel):
    """A registry we issue tokens for: its `service` is the JWT `aud`.

    `url` is where this service reaches the registry's API for content operations (image
    list, tag, removal); "" means it is not known and those operations refuse. `trust` is
    how the registry checks our tokens: `bundle` (x5c chained to `rootcertbundle`; 2.8 and
    3.x) or `jwks` (no x5c, `kid` = RFC 7638 thumbprint; distribution 3.x with `jwks`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(min_length=1, max_length=256)
    region: str = Field(default="", max_length=64)
    url: str = Field(default="", max_length=2048)
    ca_file: Path | None = None
    tls_verify: bool = True
    delete_enabled: bool = True
    trust: Literal["bundle", "jwks"] = "bundle"


def config_file() -> Path | None:
    """The TOML file settings are read from: `IAM_CONFIG_FILE`, else `config.toml` in the
    data directory if there is one."""
    explicit = os.environ.get("IAM_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    candidate = Path(os.environ.get("IAM_DATA_DIR", "data")) / "config.toml"
    return candidate if candidate.is_file() else None


class Settings(BaseSettings):
    """Every setting of the service; each is `IAM_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="IAM_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    issuer: str = "registry-iam"
    public_url: str = "http://127.0.0.1:8080"
    token_ttl: int = 300
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    signing_alg: Literal["ES256", "RS256"] = "ES256"
    # Seeds the registries table (iam.registry.registries) at `iam init` and server start;
    # the table, not this setting, is what every process reads.
    registries: list[Registry] = Field(
        default_factory=lambda: [Registry(service=DEFAULT_REGISTRY_SERVICE)]
    )
    registry_operators: list[str] = Field(default_factory=list)
    hmac_secret: SecretStr | None = None
    redis_url: str | None = None
    # Peers whose X-Forwarded-For / Forwarded are believed (iam.client_address); none by
    # default, loopback included: a header anyone can send must not pick the client address.
    trusted_proxies: str = ""
    activity_flush_seconds: float = 2.0
    worker_threads: int = Field(default=2, ge=1, le=200)
    # The token path's cache (iam.authcache): entries per process (0 turns it off) and how
    # often each process polls the authorization generation, the bound on revocation.
    authz_cache_entries: int = Field(default=10_000, ge=0, le=1_000_000)
    authz_poll_seconds: float = Field(default=0.2, gt=0, le=1.0)
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    auth_max_failures: int = Field(default=10, ge=1, le=10_000)
    auth_failure_window: int = Field(default=60, ge=1, le=86_400)
    # Workload-token issuers (iam.federation.issuer_keys): discovered keys are fetched again
    # after `refresh` seconds, used at most `max_age` after the last good fetch while the
    # issuer is unreachable; at most one fetch per issuer per `refetch_interval`; each
    # fetch bounded by `fetch_timeout`.
    issuer_keys_refresh: float = Field(default=300, ge=1, le=86_400)
    issuer_keys_max_age: float = Field(default=86_400, ge=1, le=30 * 86_400)
    issuer_refetch_interval: float = Field(default=30, ge=0.1, le=3600)
    issuer_fetch_timeout: float = Field(default=5, ge=0.1, le=30)
    max_body_bytes: int = 64 * 1024
    # The web console's sessions (iam.console): signed out after this many seconds without a
    # request, and after the absolute lifetime whatever the activity.
    console_idle_seconds: int = Field(default=900, ge=60, le=86_400)
    console_session_seconds: int = Field(default=12 * 3600, ge=300, le=7 * 86_400)
    # The content operations (iam.registry.content): each request to a registry waits at
    # most `registry_timeout` s, a whole operation at most `registry_deadline` s, with at
    # most `registry_concurrency` requests in flight per operation; manifests and configs
    # (addressed by digest, never changing) are kept up to `registry_cache_bytes`.
    registry_timeout: float = Field(default=10.0, gt=0, le=300)
    registry_deadline: float = Field(default=120.0, gt=0, le=3600)
    registry_concurrency: int = Field(default=8, ge=1, le=64)
    registry_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0, le=16 * 1024**3)
    # Namespace removal (iam.registry.namespace_removal): how long past a token's `exp` the
    # registries still accept it (distribution 2.8 and 3.x: 60 s, measured in
    # tests/test_namespace_rm_e2e.py), which the release of a removed name waits out, and
    # how often each process looks for removals to resume.
    registry_token_leeway: int = Field(default=60, ge=0, le=3600)
    namespace_removal_interval: float = Field(default=5.0, gt=0, le=300)
    log_level: str = "info"
    policies_dir: Path = Field(default_factory=roles_dir)
    # `iam serve` over HTTPS (iam.tls checks the pair before serving); both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Prometheus metrics (iam.metrics): off only to measure what they cost. `/metrics` is
    # open to these networks (the TCP peer, or the client a trusted proxy names); anyone
    # else needs the credential of a system-account identity holding MetricsReader.
    metrics_enabled: bool = True
    metrics_allow: str = "127.0.0.1/32,::1/128"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            if not path.is_file():
                raise ValueError(f"IAM_CONFIG_FILE={path} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("token_ttl")
    @classmethod
    def _token_ttl_in_range(cls, value: int) -> int:
        if not 60 <= value <= 3600:
            raise ValueError(
                "IAM_TOKEN_TTL must be between 60 and 3600 seconds: clients treat less than 60 "
                "as 60, and a registry token should not outlive a revoked key by much"
            )
        return value

    @field_validator("access_token_ttl")
    @classmethod
    def _access_ttl_in_range(cls, value: int) -> int:
        if not 60 <= value <= 24 * 3600:
            raise ValueError("IAM_ACCESS_TOKEN_TTL must be between 60 and 86400 seconds")
        return value

    @field_validator("refresh_token_ttl")
    @classmethod
    def _refresh_ttl_in_range(cls, value: int) -> int:
        if not 300 <= value <= 90 * 24 * 3600:
            raise ValueError("IAM_REFRESH_TOKEN_TTL must be between 300 s and 90 days")
        return value

    @field_validator("registries")
    @classmethod
    def _registries_unique(cls, value: list[Registry]) -> list[Registry]:
        if not value:
            raise ValueError("IAM_REGISTRIES must list at least one registry")
        names = [r.service for r in value]
        if len(set(names)) != len(names):
            raise ValueError("IAM_REGISTRIES lists the same service twice")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_are_networks(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _metrics_allow_are_networks(cls, value: str) -> str:
        parse_trusted_proxies(value, setting="IAM_METRICS_ALLOW")
        return value

    @model_validator(mode="after")
    def _secret_long_enough(self) -> Settings:
        if self.hmac_secret is not None and len(self.hmac_secret.get_secret_value()) < 32:
            raise ValueError("IAM_HMAC_SECRET must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _issuer_keys_outlive_their_refresh(self) -> Settings:
        if self.issuer_keys_max_age < self.issuer_keys_refresh:
            raise ValueError("IAM_ISSUER_KEYS_MAX_AGE must be at least IAM_ISSUER_KEYS_REFRESH "
                             "(cached keys must outlive the time they are refreshed after)")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("IAM_TLS_CERT and IAM_TLS_KEY go together (--tls-cert and "
                             "--tls-key): give both files or neither")
        return self

    @cached_property
    def db_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'iam.db').resolve()}"

    @cached_property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_trusted_proxies(self.trusted_proxies)

    @cached_property
    def metrics_networks(self) -> tuple[Network, ...]:
        return parse_trusted_proxies(self.metrics_allow, setting="IAM_METRICS_ALLOW")

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def admin_audience(self) -> str:
        return f"{self.issuer}/admin"

    @property
    def refresh_audience(self) -> str:
        return f"{self.issuer}/refresh"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable message."""
    from pydantic import ValidationError

    from iam.errors import ConfigurationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
    except ValueError as exc:
        raise ConfigurationError(f"invalid configuration: {exc}") from None
