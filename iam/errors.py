"""Domain errors. The API layer maps each class to a response in one place."""

from __future__ import annotations


class IamError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


class ConfigurationError(IamError):
    """Raised when settings, key or policy files are unusable; the service refuses to start."""

    code = "bad_configuration"


class BackupError(IamError):
    """Raised when a backup cannot be written or restored: an unreadable, altered or wrongly
    sealed archive, a target that is not empty, a database tool that failed."""

    code = "backup_failed"


class InvalidInput(IamError):
    """Raised when a request is well-formed but a value breaks a rule (name, role, scope...)."""

    code = "invalid_input"


class Unsupported(InvalidInput):
    """Raised when a request asks for what this service does not offer: tokens for a registry
    it does not serve, a grant type it does not know."""

    code = "unsupported"


class InvalidTokenRequest(InvalidInput):
    """Raised when a token request lacks a field its grant needs, or has one too long."""

    code = "invalid_request"


class NotFound(IamError):
    """Raised when an entity does not exist, or exists in another account (never say which)."""

    code = "not_found"


class Conflict(IamError):
    """Raised when a write collides with existing state (duplicate name, namespace taken)."""

    code = "conflict"


class LockedEntity(Conflict):
    """Raised when changing or deleting a locked entity: it must be unlocked first."""

    code = "locked"


class PreconditionFailed(IamError):
    """Raised when `If-Match` does not carry the entity's current tag (a lost update averted)."""

    code = "precondition_failed"


class PreconditionRequired(IamError):
    """Raised when an update comes without `If-Match`."""

    code = "precondition_required"


class Unauthenticated(IamError):
    """Raised when credentials are missing, malformed, unknown, wrong, disabled or expired.

    The message is deliberately the same for every cause. The keyword fields say, for the
    audit trail only, why and whose (`reason`: malformed, unknown_key, disabled, expired,
    unknown_user, wrong_password, bad_token, owner_gone...; the identity a known key, user
    or token names; a few characters of an unknown key). They are never serialised.
    """

    code = "unauthorized"

    def __init__(self, message: str = "authentication required", *, reason: str = "unknown",
                 account_id: str = "", iam_id: str = "", apikey_id: str = "",
                 key_prefix: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.account_id = account_id
        self.iam_id = iam_id
        self.apikey_id = apikey_id
        self.key_prefix = key_prefix


class WorkloadTokenRefused(Unauthenticated):
    """Raised when a workload token (a CI job's or a pod's OIDC JWT) is refused for a reason
    its holder may be told: it can read the token itself (expired, wrong audience, an
    algorithm or key the issuer does not use). Which profiles or rules exist is never said:
    every such refusal reads `no trusted profile accepts this token`."""


class Forbidden(IamError):
    """Raised when an authenticated caller lacks the action named in the message."""

    code = "forbidden"

    def __init__(self, action: str, message: str | None = None) -> None:
        super().__init__(message or f"missing action {action}")
        self.action = action


class RateLimited(IamError):
    """Raised when a client has failed authentication too often; it may retry later."""

    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications; retry in {retry_after} s")
        self.retry_after = retry_after


class Unavailable(IamError):
    """Raised when the database cannot be reached; the client should retry."""

    code = "service_unavailable"


class RegistryError(IamError):
    """Base of the errors of a registry's content API; `registry` names the registry (its
    service name), and every message says which registry it was."""

    code = "registry_error"

    def __init__(self, message: str, *, registry: str, target: str | None = None) -> None:
        super().__init__(message, target=target or "registry")
        self.registry = registry


class RegistryUnavailable(RegistryError):
    """Raised when a registry cannot be reached (connection refused, DNS, TLS) or says it
    is unavailable; the client may retry."""

    code = "registry_unavailable"


class RegistryTimeout(RegistryError):
    """Raised when a registry does not answer within `IAM_REGISTRY_TIMEOUT`, or an
    operation on it outlasts `IAM_REGISTRY_DEADLINE`."""

    code = "registry_timeout"


class RegistryBadAnswer(RegistryError):
    """Raised when a registry answers something that makes no sense for the request: not
    HTTP, an unexpected status, a body that is not the documented JSON or whose digest does
    not match, or a refusal of the token the service minted (its trust is not set up)."""

    code = "registry_bad_answer"


class RegistryRefused(Conflict):
    """Raised when a registry is set up not to do what was asked: deletes disabled, a tag
    deletion on a registry that has none (distribution 2.8), a mount it declined."""

    code = "registry_refused"


class Incomplete(IamError):
    """Raised when an operation made of several registry writes (image-tag of an index,
    image-rm of several images, a repository or namespace removal) stopped part way:
    `done` lists exactly what was done, `not_done` what was not, `cause` why it stopped.
    It answers with the cause's status."""

    code = "incomplete"

    def __init__(self, cause: IamError, *, done: list[dict[str, object]],
                 not_done: list[dict[str, object]]) -> None:
        super().__init__(f"stopped part way: {cause.message}; {len(done)} done, "
                         f"{len(not_done)} not done", target=cause.target)
        self.cause = cause
        self.done = done
        self.not_done = not_done
