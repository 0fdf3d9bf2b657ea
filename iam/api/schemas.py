"""Request and response shapes of the admin API. Secrets appear only in `ApiKeyCreated`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Generic, NotRequired, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr
from typing_extensions import TypedDict  # pydantic reads only this one on Python 3.11

from iam.store.rows import Paged

T = TypeVar("T")
R = TypeVar("R")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    """The public shape of a table row: the fields the model declares and nothing else, so a
    column added to the table (a secret, say) is never shown by accident."""

    @classmethod
    def of(cls, row: object) -> Self:
        return cls.model_validate(row, from_attributes=True)


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(description="How many match, across all pages")
    limit: int
    next_pagestart: str | None = Field(
        default=None, description="Pass as `pagestart` to read the next page")


def page_of(found: Paged[R], shape: Callable[[R], T], *, limit: int) -> Page[T]:
    """One page of rows, each in its public shape (`ServiceIdPublic.of`...)."""
    return Page(data=[shape(row) for row in found.rows], count=found.total, limit=limit,
                next_pagestart=found.next_start)


class NamedCreate(Strict):
    """The body that creates a named entity with a description (service ID, access group).
    Each entity subclasses it under its own name, the schema the OpenAPI document shows; a
    docstring there would become that schema's description."""

    name: StrictStr = Field(max_length=4096)
    description: StrictStr | None = Field(default=None, max_length=4096)


class NamedUpdate(Strict):
    """The body that renames or re-describes an entity (service ID, API key, access group)."""

    name: StrictStr | None = Field(default=None, max_length=4096)
    description: StrictStr | None = Field(default=None, max_length=4096)


class ServiceIdCreate(NamedCreate):
    pass


class ServiceIdUpdate(NamedUpdate):
    pass


class ServiceIdPublic(Public):
    id: str
    iam_id: str
    account_id: str
    name: str
    description: str
    locked: bool
    created_at: datetime
    modified_at: datetime
    entity_tag: str


def _storable(value: datetime) -> datetime:
    """A zoned datetime must stay within the years 1-9999 once in UTC, as it is stored
    (a naive one goes on to be refused, naming the missing time zone)."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range once converted to UTC (years 1-9999)") from None
    return value


class ApiKeyCreate(Strict):
    name: StrictStr = Field(max_length=4096)
    iam_id: StrictStr | None = Field(
        default=None, max_length=128,
        description="Owner (a service ID's iam_id); omitted = the caller's own user key")
    description: StrictStr | None = Field(default=None, max_length=4096)
    expires_at: Annotated[datetime, AfterValidator(_storable)] | None = None


class ApiKeyUpdate(NamedUpdate):
    pass


class ApiKeyPublic(Public):
    id: str
    iam_id: str
    account_id: str
    name: str
    description: str
    locked: bool
    disabled: bool
    created_at: datetime
    modified_at: datetime
    expires_at: datetime | None
    last_authn: datetime | None
    authn_count: int
    entity_tag: str


class ApiKeyCreated(ApiKeyPublic):
    apikey: str = Field(description="The key itself. Shown once: store it now.", repr=False)


class UserCreate(Strict):
    name: StrictStr = Field(max_length=4096)
    password: StrictStr = Field(max_length=4096, repr=False)


class UserUpdate(Strict):
    name: StrictStr | None = Field(default=None, max_length=4096)


class PasswordChange(Strict):
    password: StrictStr = Field(max_length=4096, repr=False)
    current_password: StrictStr | None = Field(
        default=None, max_length=4096, repr=False,
        description="needed to change one's own password; not when an administrator sets "
                    "another user's")


class UserPublic(Public):
    iam_id: str
    account_id: str
    name: str
    locked: bool
    created_at: datetime
    modified_at: datetime
    entity_tag: str


class AccountCreate(Strict):
    name: StrictStr = Field(max_length=4096)


class AccountCreated(BaseModel):
    id: str
    name: str
    owner_iam_id: str
    owner_service_id: str
    apikey: str = Field(description="The owner's API key. Shown once: store it now.",
                        repr=False)


class IdentityToken(BaseModel):
    access_token: str = Field(repr=False)
    refresh_token: str = Field(repr=False)
    token_type: str = "Bearer"  # noqa: S105 (a type name, not a secret)
    expires_in: int
    expiration: int


class ExchangedToken(BaseModel):
    """RFC 8693's answer to a token exchange."""

    access_token: str = Field(repr=False)
    issued_token_type: str = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
    token_type: str = "Bearer"  # noqa: S105 (a type name, not a secret)
    expires_in: int


# A TypedDict, not a model: built as a plain dict on the hot path.
class RegistryTokenBody(TypedDict):
    """A signed registry token: `token` and `access_token` (the same JWT), `expires_in`
    seconds, `issued_at` (RFC 3339), and a `refresh_token` when one was asked for."""

    token: str
    access_token: str
    expires_in: int
    issued_at: str
    refresh_token: NotRequired[str]


class Health(BaseModel):
    status: str
    detail: StrictBool | str | None = None


class NamespaceReservation(Public):
    """A deleted namespace's name, kept for its account until the operator releases it."""

    name: str
    region: str
    account_id: str
    deleted_at: datetime
