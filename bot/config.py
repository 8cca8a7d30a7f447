"""The one configuration object, read once at start-up from the environment and an optional `.env`.

Bot Framework names (`MicrosoftAppId`, ...) are kept as Azure Bot Service documents them, so the
same app settings work in Azure App Service; the bot's own settings carry the `IMPACT_` prefix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from huddles.services.ports import DEFAULT_ESCALATE_AFTER_DAYS, HuddleOptions
from rounds.services.ports import RoundOptions
from store.db import masked_url, on_localhost
from store.privacy.retention import RetentionPolicy


class AppType(StrEnum):
    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


def _split_ids(value: object) -> object:
    """Accept `a,b , c` (and a JSON-less env string) as a list of trimmed, non-empty ids."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything the service can be told. See the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    port: int = Field(default=3978, ge=1, le=65535, validation_alias=_env("PORT"))
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'impact-bot.db'}",
        min_length=1,
        validation_alias=_env("DATABASE_URL"),
        repr=False,  # shown masked instead (__repr_args__)
    )
    app_id: str = Field(default="", validation_alias=_env("MicrosoftAppId"))
    app_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=_env("MicrosoftAppPassword"), repr=False
    )
    app_type: AppType = Field(
        default=AppType.MULTI_TENANT, validation_alias=_env("MicrosoftAppType")
    )
    app_tenant_id: str = Field(default="", validation_alias=_env("MicrosoftAppTenantId"))
    allowed_tenants: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_env("IMPACT_ALLOWED_TENANTS")
    )
    # Outside local mode an empty IMPACT_ALLOWED_TENANTS refuses to start unless this says so.
    allow_any_tenant: bool = Field(default=False, validation_alias=_env("IMPACT_ALLOW_ANY_TENANT"))
    admin_ids: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_env("IMPACT_ADMIN_IDS")
    )
    timezone: str = Field(default="Europe/London", validation_alias=_env("IMPACT_TIMEZONE"))
    comment_max_chars: int = Field(
        default=1000, ge=1, le=4000, validation_alias=_env("IMPACT_COMMENT_MAX_CHARS")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("IMPACT_LOG_LEVEL"))
    public_url: str = Field(default="", validation_alias=_env("IMPACT_PUBLIC_URL"))
    improvement_team_id: str = Field(
        default="", validation_alias=_env("IMPACT_IMPROVEMENT_TEAM_ID")
    )

    # Anonymity: no group result below these numbers of submitted responses.
    min_group_size: int = Field(default=5, ge=2, validation_alias=_env("IMPACT_MIN_GROUP_SIZE"))
    min_comment_group_size: int = Field(
        default=10, ge=2, validation_alias=_env("IMPACT_MIN_COMMENT_GROUP_SIZE")
    )

    # Teams' limits for proactive messages. Microsoft, "Optimize your bot with rate limiting and
    # best practices in Teams" (learn.microsoft.com/microsoftteams/platform/bots/how-to/
    # rate-limit), as of 2026: per bot per conversation 7 operations/s, 8 per 2 s, 60 per 30 s,
    # 1,800 per hour; 50 requests/s per app per tenant (creating a conversation counts).
    per_conversation_per_second: int = Field(
        default=7, ge=1, validation_alias=_env("IMPACT_TEAMS_PER_CONVERSATION_PER_SECOND")
    )
    per_conversation_per_2s: int = Field(
        default=8, ge=1, validation_alias=_env("IMPACT_TEAMS_PER_CONVERSATION_PER_2S")
    )
    per_conversation_per_30s: int = Field(
        default=60, ge=1, validation_alias=_env("IMPACT_TEAMS_PER_CONVERSATION_PER_30S")
    )
    per_conversation_per_hour: int = Field(
        default=1800, ge=1, validation_alias=_env("IMPACT_TEAMS_PER_CONVERSATION_PER_HOUR")
    )
    per_tenant_per_second: int = Field(
        default=50, ge=1, validation_alias=_env("IMPACT_TEAMS_PER_TENANT_PER_SECOND")
    )
    # How long a proactive message outside a round is retried on transient failures (a round's
    # messages are retried until the round closes, and at least this long).
    send_retry_hours: float = Field(
        default=24.0, gt=0, le=24 * 14, validation_alias=_env("IMPACT_SEND_RETRY_HOURS")
    )
    send_backoff_cap_seconds: float = Field(
        default=120.0, gt=0, validation_alias=_env("IMPACT_SEND_BACKOFF_CAP_SECONDS")
    )
    # Longest wait for Teams' answer to one request of the adapter's: a turn's reply or card
    # update (and the roster pages and channel lists read through it). The Bot Connector gives
    # a turn about 15 s; msrest's own default, 100 s, held the turn and the person's card.
    reply_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias=_env("IMPACT_REPLY_TIMEOUT_SECONDS")
    )
    # How many service processes share the database (and so Teams' limits): each process's
    # sender keeps to 1/N of them.
    service_processes: int = Field(
        default=1, ge=1, le=64, validation_alias=_env("IMPACT_SERVICE_PROCESSES")
    )
    # The outbox sender in a child process of the service's (bot/sender/process.py), at this
    # niceness, asking the service for every request's room in its one budget
    # (bot/sender/budget_link.py); false: the sender runs in the service's own process.
    sender_process: bool = Field(default=True, validation_alias=_env("IMPACT_SENDER_PROCESS"))
    sender_niceness: int = Field(
        default=10, ge=0, le=19, validation_alias=_env("IMPACT_SENDER_NICENESS")
    )
    reconcile_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias=_env("IMPACT_RECONCILE_SECONDS")
    )
    # Huddles: an escalation still open this many days goes one team further up the tree.
    escalate_after_days: int = Field(
        default=DEFAULT_ESCALATE_AFTER_DAYS,
        ge=1,
        le=365,
        validation_alias=_env("IMPACT_ESCALATE_AFTER_DAYS"),
    )

    # Retention (docs/privacy.md, "How long"): days kept, each deleted by the privacy job.
    retention_days: int = Field(
        default=365, ge=1, le=3650, validation_alias=_env("IMPACT_RETENTION_DAYS")
    )
    draft_retention_days: int = Field(
        default=90, ge=1, le=3650, validation_alias=_env("IMPACT_DRAFT_RETENTION_DAYS")
    )
    outbox_retention_days: int = Field(
        default=30, ge=1, le=3650, validation_alias=_env("IMPACT_OUTBOX_RETENTION_DAYS")
    )
    chart_retention_days: int = Field(
        default=365, ge=1, le=3650, validation_alias=_env("IMPACT_CHART_RETENTION_DAYS")
    )

    # Watching the service (deployment/README.md, "What to watch"): log format (auto: text in
    # local mode, JSON otherwise), /metrics behind a bearer token or on an internal port, and
    # traces to Application Insights when its connection string is set.
    log_format: str = Field(default="auto", validation_alias=_env("IMPACT_LOG_FORMAT"))
    metrics_token: str = Field(
        default="", validation_alias=_env("IMPACT_METRICS_TOKEN"), repr=False
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias=_env("IMPACT_METRICS_PORT")
    )
    appinsights_connection_string: str = Field(
        default="", validation_alias=_env("APPLICATIONINSIGHTS_CONNECTION_STRING"), repr=False
    )

    @field_validator("allowed_tenants", "admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        lower = value.lower()
        if lower not in {"auto", "text", "json"}:
            raise ValueError("must be text, json or auto")
        return lower

    @property
    def json_logs(self) -> bool:
        """JSON lines outside local mode (or when asked for); plain text in local mode."""
        return self.log_format == "json" or (self.log_format == "auto" and not self.local_mode)

    @property
    def local_mode(self) -> bool:
        """No app id: no token validation, loopback only (Agents Playground, tests)."""
        return not self.app_id

    @property
    def bind_host(self) -> str:
        return "127.0.0.1" if self.local_mode else "0.0.0.0"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield ("database_url", self.database_url_masked)
        yield from super().__repr_args__()

    @property
    def database_url_masked(self) -> str:
        """DATABASE_URL as it may be shown or logged: any password replaced by ***."""
        return masked_url(self.database_url)

    def serving_problems(self, *, local: bool) -> list[str]:
        """Why `impact-bot serve` (with or without --local) must not start, one line each."""
        if local and self.app_id:
            return [
                "configuration error: --local runs without authentication, but MicrosoftAppId "
                "is set: unset it, or start without --local"
            ]
        if local:
            if not self.is_sqlite and not on_localhost(self.database_url):
                return [
                    "configuration error: DATABASE_URL: local mode uses only a database on this "
                    f"machine, not {self.database_url_masked}"
                ]
            return []
        if not self.app_id:
            return [
                "configuration error: MicrosoftAppId is not set: set it (with "
                "MicrosoftAppPassword) for Teams, or run `impact-bot serve --local` to try the "
                "bot on this machine without authentication"
            ]
        if not self.allowed_tenants and not self.allow_any_tenant:
            return [
                "configuration error: IMPACT_ALLOWED_TENANTS is empty: list the tenant ids this "
                "deployment serves (or set IMPACT_ALLOW_ANY_TENANT=true to serve any tenant)"
            ]
        return []

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def round_options(self) -> RoundOptions:
        """What the rounds services read from these settings."""
        return RoundOptions(
            zone=self.zone,
            min_group=self.min_group_size,
            min_comment_group=self.min_comment_group_size,
            public_url=self.public_url,
            improvement_team_id=self.improvement_team_id,
            app_id=self.app_id,
        )

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            answer_days=self.retention_days,
            draft_days=self.draft_retention_days,
            payload_days=self.outbox_retention_days,
            chart_days=self.chart_retention_days,
        )

    def huddle_options(self) -> HuddleOptions:
        """What the huddle services read from these settings."""
        return HuddleOptions(
            zone=self.zone,
            escalate_after_days=self.escalate_after_days,
            improvement_team_id=self.improvement_team_id,
        )


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message is one line naming the setting."""


_SETTING_NAMES = {
    name: (
        field.validation_alias.choices[0]
        if isinstance(field.validation_alias, AliasChoices)
        else name
    )
    for name, field in Settings.model_fields.items()
}


_SETTING_ALIASES = {
    name: (
        tuple(str(alias) for alias in field.validation_alias.choices)
        if isinstance(field.validation_alias, AliasChoices)
        else (name,)
    )
    for name, field in Settings.model_fields.items()
}


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; turn pydantic's report into one clear line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        setting = _SETTING_NAMES.get(field, field)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"configuration error: {setting}: {message}") from exc


def setting_environment(settings: Settings) -> dict[str, str]:
    """The environment variables from which `load_settings()` makes these same `settings` again
    (a child process's, bot/sender/process.py): each field under its first name, a tuple in the
    comma form its validator reads, a secret in the clear, a field that is None left out."""
    found: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None:
            found[_SETTING_ALIASES[name][0]] = _environment_value(name, value)
    return found


def child_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (this process's environment) with every setting's variable replaced by `settings`'
    own (`setting_environment`): any other name of a setting, in any case, is dropped, so that
    nothing but `settings` decides what the child reads."""
    names = {alias.lower() for aliases in _SETTING_ALIASES.values() for alias in aliases}
    kept = {key: value for key, value in base.items() if key.lower() not in names}
    return kept | setting_environment(settings)


def _environment_value(name: str, value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, tuple):
        if any("," in str(part) for part in value):
            raise ValueError(f"{name}: {value!r} has a comma, which its comma form cannot keep")
        return ",".join(str(part) for part in value)
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"{name}: no environment form for {type(value).__name__}")
