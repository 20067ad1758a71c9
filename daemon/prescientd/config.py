"""The configuration: a TOML file validated into frozen pydantic models.

Unknown keys, wrong types, an unknown timezone and malformed HH:MM times are errors that name
the key (`ConfigError.key`). Types are strict: `"10"` is not an integer and `"no"` is not a boolean;
a TOML integer is a fine float and a TOML string a fine Decimal or path. The file is read only
when it is a regular file under MAX_CONFIG_BYTES (a FIFO would block the reader). Nothing here reads
the clock or touches the network.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from prescientd.models import DEFAULT_STRATEGY, Action, PriceSource

DEFAULT_CONFIG_PATH = Path("config/prescientd.toml")
CONFIG_ENV_VAR = "PRESCIENTD_CONFIG"

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_CONFIG_BYTES = 1 << 20  # a config is a few KB; a bigger "config" is a mistake
# A variant's name: it labels ledger rows, CSV cells and metrics, and prefixes idempotency keys
# (so never a "|").
STRATEGY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ConfigError(Exception):
    """A config file that cannot be used; `key` is the dotted name of the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"expected a 24-hour local time HH:MM, got {value!r}")
    return value


HHMM = Annotated[str, AfterValidator(_hhmm)]
# Money and prices are stored as integer micro-units: at most 6 decimals, and bounded far below
# SQLite's 64-bit integers.
Probability = Annotated[Decimal, Field(ge=0, le=1, decimal_places=6, allow_inf_nan=False)]
PositiveUsd = Annotated[Decimal, Field(gt=0, le=10**9, decimal_places=6, allow_inf_nan=False)]
NonNegativeUsd = Annotated[Decimal, Field(ge=0, le=10**12, decimal_places=6, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class PathsConfig(_Section):
    """Where data, logs and the database live (restart-only)."""

    data_dir: Path = Path("data")
    logs_dir: Path = Path("logs")
    db_path: Path = Path("data/prescient.db")


class PolymarketConfig(_Section):
    """HTTP endpoints and client limits (restart-only)."""

    gamma_url: str = "https://gamma-api.polymarket.com"
    clob_url: str = "https://clob.polymarket.com"
    user_agent: str = "prescientd/0.1 (paper trading; +https://github.com/prescientd)"
    connect_timeout_s: float = Field(default=10.0, gt=0)
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    retry_after_max_s: float = Field(default=120.0, gt=0)
    gamma_requests_per_10s: int = Field(default=200, ge=1)
    clob_requests_per_10s: int = Field(default=400, ge=1)
    max_concurrent_requests: int = Field(default=8, ge=1, le=64)
    page_limit: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=1000, ge=1)
    books_per_request: int = Field(default=500, ge=1, le=500)
    max_response_mb: float = Field(default=64.0, gt=0)
    max_item_kb: float = Field(default=1024.0, gt=0)

    @field_validator("gamma_url", "clob_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")


class ScheduleConfig(_Section):
    """When the jobs run, in the configured local timezone."""

    morning: HHMM = "09:00"
    evening: HHMM = "18:00"
    poll_interval_s: float = Field(default=300.0, ge=1)
    max_price_age_s: float = Field(default=0.0, ge=0)
    job_retry_s: float = Field(default=300.0, ge=1)
    startup_catch_up: bool = True
    # held markets not near resolution are checked on Gamma this often (0 = every poll); those
    # past their end date, closed, proposed, halted or whose book vanished are checked every poll
    settlement_sweep_s: float = Field(default=3600.0, ge=0)
    # For demos and tests: run the job every N seconds instead of once a day (0 = daily).
    morning_every_s: float = Field(default=0.0, ge=0)
    evening_every_s: float = Field(default=0.0, ge=0)

    @property
    def morning_time(self) -> time:
        """The morning job's local time."""
        return time.fromisoformat(self.morning)

    @property
    def evening_time(self) -> time:
        """The evening job's local time."""
        return time.fromisoformat(self.evening)

    @property
    def price_max_age_s(self) -> float:
        """Age above which a price is stale: max_price_age_s, or twice the poll interval when 0."""
        return self.max_price_age_s or 2 * self.poll_interval_s

    @model_validator(mode="after")
    def _distinct_times(self) -> ScheduleConfig:
        if self.morning == self.evening:
            raise ValueError("morning and evening must be different times")
        return self


class FiltersConfig(_Section):
    """Which events and markets are eligible for tracking."""

    min_liquidity_usd: NonNegativeUsd = Decimal(1000)
    min_volume_24h_usd: NonNegativeUsd = Decimal(0)
    min_hours_to_end: float = Field(default=1.0, ge=0)
    max_days_to_end: float = Field(default=365.0, gt=0)
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    max_markets: int = Field(default=5000, ge=1)

    @model_validator(mode="after")
    def _tags_disjoint(self) -> FiltersConfig:
        both = set(self.include_tags) & set(self.exclude_tags)
        if both:
            raise ValueError(f"tags both included and excluded: {sorted(both)}")
        return self


class PricesConfig(_Section):
    """How books are summarised into prices."""

    depth_window: Probability = Decimal("0.02")
    display_spread_max: Probability = Decimal("0.10")


class StrategyConfig(_Section):
    """The trading rule; reloaded on SIGHUP."""

    threshold: Probability = Decimal("0.50")
    action: Action = Action.BUY_NO
    comparison: Literal["above", "below"] = "above"
    price_source: PriceSource = PriceSource.DISPLAY
    stake_usd: PositiveUsd = Decimal(100)
    min_price: Probability = Decimal(0)
    max_price: Probability = Decimal(1)
    max_spread: Probability = Decimal("0.10")
    min_depth_ratio: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(1)
    max_open_positions: int = Field(default=0, ge=0)  # 0 = no cap (cash is the limit)
    max_positions_per_market: int = Field(default=1, ge=0)
    cash_reserve_usd: NonNegativeUsd = Decimal(0)
    market_selection: Literal["best_per_event", "all"] = "best_per_event"
    take_profit_price: Probability | None = None
    stop_loss_price: Probability | None = None

    @model_validator(mode="after")
    def _bands(self) -> StrategyConfig:
        if self.min_price > self.max_price:
            raise ValueError("min_price must not exceed max_price")
        if (
            self.take_profit_price is not None
            and self.stop_loss_price is not None
            and self.stop_loss_price >= self.take_profit_price
        ):
            raise ValueError("stop_loss_price must be below take_profit_price")
        return self


class VariantConfig(StrategyConfig):
    """A `[strategies.NAME]` table: a strategy of its own with its own paper account.

    Keys it leaves out are those of `[strategy]` (the file parser merges them in before
    validation), so `threshold = 0.60` alone means "the default strategy, at 0.60".
    """

    # the deposit made when the variant first trades; None = paper.starting_balance_usd
    starting_balance_usd: PositiveUsd | None = None


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One active strategy: its name, its trading rule and the deposit of a new account."""

    name: str
    rule: StrategyConfig
    starting_balance_usd: Decimal


class PaperConfig(_Section):
    """The simulated account and fill realism."""

    starting_balance_usd: PositiveUsd = Decimal(10000)
    max_slippage: Probability = Decimal("0.02")
    fees_enabled: bool = True


class MirrorsConfig(_Section):
    """The JSON/CSV files written from SQLite."""

    raw_events_backup: bool = True
    debounce_s: float = Field(default=1.0, ge=0)
    # the workbook is rebuilt when its CSVs changed, at most this often (0 = at every change): at
    # the full universe a rebuild is a minute of CPU, more than the poll it would follow
    workbook_interval_s: float = Field(default=300.0, ge=0)


class RecordConfig(_Section):
    """What is recorded beyond the ledger, and for how long (DESIGN §10)."""

    # price snapshots keep full resolution this many whole days, then only their daily bars stay
    keep_days: int = Field(default=30, ge=1, le=3650)


class LoggingConfig(_Section):
    """Log level and the daily log file."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    file: bool = True


class StreamConfig(_Section):
    """The WebSocket market channel (DESIGN §9): which tokens to stream and how to keep it alive."""

    enabled: bool = True
    ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    watch_band: Probability = Decimal("0.05")
    max_assets: int = Field(default=2000, ge=0, le=100_000)
    # >= 2 so both tokens of a market share a connection; 500 is the reported server limit
    assets_per_connection: int = Field(default=200, ge=2, le=500)
    ping_interval_s: float = Field(default=10.0, gt=0, le=300)
    silence_limit_s: float = Field(default=30.0, gt=0, le=3600)
    debounce_ms: int = Field(default=100, ge=0, le=10_000)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    backoff_base_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    resync_interval_s: float = Field(default=5.0, gt=0, le=3600)
    circuit_failures: int = Field(default=5, ge=1, le=1000)
    circuit_window_s: float = Field(default=120.0, gt=0, le=86_400)
    circuit_open_s: float = Field(default=300.0, gt=0, le=86_400)
    max_frame_mb: float = Field(default=16.0, gt=0, le=1024)

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not re.match(r"^wss?://[^/\s]+", value):
            raise ValueError(f"expected a ws:// or wss:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _timers(self) -> StreamConfig:
        if self.silence_limit_s <= self.ping_interval_s:
            raise ValueError("silence_limit_s must exceed ping_interval_s (a PONG must fit)")
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError("backoff_base_s must not exceed backoff_max_s")
        return self


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class HttpConfig(_Section):
    """The operator's window: JSON API, dashboard, /metrics (restart-only)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8686, ge=0, le=65535)
    port_fallback: bool = False
    token_file: str = ""
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=16384, ge=1024, le=16 * 1024 * 1024)
    read_timeout_s: float = Field(default=10.0, gt=0, le=300)
    sse_queue_size: int = Field(default=256, ge=4, le=100_000)
    sse_replay_size: int = Field(default=1000, ge=0, le=100_000)
    sse_keepalive_s: float = Field(default=15.0, gt=0, le=300)
    sse_max_clients: int = Field(default=32, ge=1, le=10_000)

    @field_validator("host")
    @classmethod
    def _ip_or_localhost(cls, value: str) -> str:
        if value == "localhost":
            return value
        try:
            return str(ipaddress.ip_address(value))
        except ValueError as exc:
            raise ValueError(f"expected an IP address or localhost, got {value!r}") from exc

    @field_validator("allowed_hosts")
    @classmethod
    def _hostnames(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _HOSTNAME.match(name.lower()):
                raise ValueError(f"expected a host name without port, got {name!r}")
        return tuple(name.lower() for name in value)

    @property
    def token_path(self) -> Path | None:
        """The bearer-token file, or None when control routes are disabled."""
        return Path(self.token_file) if self.token_file else None


class ReportConfig(_Section):
    """The analytics report (DESIGN §11) and the evening's learning of resolutions."""

    # unheld markets tracked within this many days are checked by the evening for a resolution
    # once they may have ended (held markets are checked by the polls)
    lookback_days: int = Field(default=30, ge=1, le=3650)
    # markets asked about per evening at most (100 per Gamma request); the rest wait a day
    max_resolution_checks: int = Field(default=2000, ge=0, le=1_000_000)
    # calibration buckets of YES price: [0, w), [w, 2w) ... (1 / w must be a whole number)
    bucket_width: Probability = Decimal("0.05")
    top_events: int = Field(default=20, ge=1, le=10_000)  # worst-case events listed

    @field_validator("bucket_width")
    @classmethod
    def _whole_buckets(cls, value: Decimal) -> Decimal:
        if value <= 0 or (1 / value) != (1 / value).to_integral_value():
            raise ValueError(f"1 / bucket_width must be a whole number, got {value}")
        return value


class Config(_Section):
    """The whole validated configuration; immutable, swapped as one reference on reload."""

    timezone: str = "America/New_York"
    paths: PathsConfig = PathsConfig()
    polymarket: PolymarketConfig = PolymarketConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    filters: FiltersConfig = FiltersConfig()
    prices: PricesConfig = PricesConfig()
    strategy: StrategyConfig = StrategyConfig()
    strategies: dict[str, VariantConfig] = Field(default_factory=dict)
    paper: PaperConfig = PaperConfig()
    mirrors: MirrorsConfig = MirrorsConfig()
    record: RecordConfig = RecordConfig()
    logging: LoggingConfig = LoggingConfig()
    stream: StreamConfig = StreamConfig()
    http: HttpConfig = HttpConfig()
    report: ReportConfig = ReportConfig()
    # the top-level keys (sections, timezone) the file spelled out; reloads compare them
    _file_keys: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def file_keys(self) -> frozenset[str]:
        """Top-level keys present in the file this config was read from."""
        return self._file_keys

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("strategies")
    @classmethod
    def _variant_names(cls, value: dict[str, VariantConfig]) -> dict[str, VariantConfig]:
        for name in value:
            if name == DEFAULT_STRATEGY:
                raise ValueError(
                    f"{name!r} is the name of [strategy]; give the variant another name"
                )
            if not STRATEGY_NAME.match(name):
                raise ValueError(
                    f"strategy name {name!r} must be 1-32 characters of a-z, 0-9, _ and -,"
                    " starting with a letter"
                )
        return value

    def strategy_specs(self) -> tuple[StrategySpec, ...]:
        """Every active strategy: "default" ([strategy]) first, then the variants by name."""
        specs = [StrategySpec(DEFAULT_STRATEGY, self.strategy, self.paper.starting_balance_usd)]
        for name in sorted(self.strategies):
            variant = self.strategies[name]
            balance = variant.starting_balance_usd or self.paper.starting_balance_usd
            specs.append(StrategySpec(name, variant, balance))
        return tuple(specs)

    @property
    def tz(self) -> ZoneInfo:
        """The configured timezone."""
        return ZoneInfo(self.timezone)

    def resolve_paths(self, base: Path) -> Config:
        """Return a copy whose relative paths are made absolute against base."""
        paths = self.paths.model_copy(
            update={
                name: value if value.is_absolute() else base / value
                for name, value in (
                    ("data_dir", self.paths.data_dir),
                    ("logs_dir", self.paths.logs_dir),
                    ("db_path", self.paths.db_path),
                )
            }
        )
        return self.model_copy(update={"paths": paths})


def _error_key(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    # pydantic puts the name of an after-validator on the loc path for some types; drop it
    loc = [part for part in loc if not part.startswith(("function-", "constrained-"))]
    return ".".join(loc) or "(top level)"


def _describe(error: Any) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown key"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _check_values(data: Any, prefix: str = "") -> None:
    """Reject what JSON cannot carry: non-finite floats and TOML dates/times."""
    if isinstance(data, dict):
        for key, value in data.items():
            _check_values(value, f"{prefix}{key}.")
    elif isinstance(data, list):
        for value in data:
            _check_values(value, prefix)
    elif isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(prefix.rstrip("."), "must be a finite number")
    elif isinstance(data, date | datetime | time):
        raise ConfigError(prefix.rstrip("."), "a TOML date/time is not a valid value here")


def _inherit_strategy(data: dict[str, Any]) -> dict[str, Any]:
    """The data with each `[strategies.NAME]` table laid over a copy of `[strategy]`.

    A variant is "the default strategy, except": the keys it leaves out are [strategy]'s (not
    the built-in defaults). Anything malformed is left for validation to name.
    """
    variants, base = data.get("strategies"), data.get("strategy", {})
    if not isinstance(variants, dict) or not isinstance(base, dict):
        return data
    merged = {
        name: {**base, **table} if isinstance(table, dict) else table
        for name, table in variants.items()
    }
    return {**data, "strategies": merged}


def parse_config(text: str) -> Config:
    """Parse and validate TOML text; raise ConfigError naming the key on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", f"invalid TOML: {exc}") from exc
    _check_values(data)
    try:
        # strict JSON-mode validation: a quoted "10" is not an int, "no" is not a bool, while
        # TOML ints pass for floats and strings for Decimals, paths and enum values
        config = Config.model_validate_json(json.dumps(_inherit_strategy(data)), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_error_key(first), _describe(first)) from exc
    config._file_keys = frozenset(data)
    return config


def read_config_text(path: Path) -> str:
    """The text of a config file: a regular file of at most MAX_CONFIG_BYTES, UTF-8.

    Opened non-blocking, so a FIFO (or a device) is refused instead of waiting for a writer.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("(file)", f"{path} is not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                "(file)", f"{path} is {info.st_size} bytes, more than {MAX_CONFIG_BYTES}"
            )
        try:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError("(file)", f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError("(file)", f"{path} grew beyond {MAX_CONFIG_BYTES} bytes while read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("(file)", f"{path} is not UTF-8: {exc}") from exc


def load_config(path: Path) -> Config:
    """Read and validate the config file at path (paths inside are left relative)."""
    return parse_config(read_config_text(path))


def find_config_path(cli_path: Path | None) -> Path:
    """The config file: --config, else $PRESCIENTD_CONFIG, else ./config/prescientd.toml."""
    if cli_path is not None:
        return cli_path
    env = os.environ.get(CONFIG_ENV_VAR)
    if env:
        return Path(env)
    return DEFAULT_CONFIG_PATH


def decision_inputs(config: Config) -> dict[str, Any]:
    """Every key a trading decision depends on, as plain JSON data (recorded per config version).

    Each active strategy's rule and deposit, and the shared keys that shape what the rules see
    and how they fill: the price model, the staleness limit, slippage and fees, the filters. A
    replay applies these at the points the versions were loaded.
    """
    return {
        "strategies": {
            spec.name: {
                **StrategyConfig.model_validate(
                    spec.rule.model_dump(exclude={"starting_balance_usd"})
                ).model_dump(mode="json"),
                "starting_balance_usd": str(spec.starting_balance_usd),
            }
            for spec in config.strategy_specs()
        },
        "paper": config.paper.model_dump(mode="json", exclude={"starting_balance_usd"}),
        "prices": config.prices.model_dump(mode="json"),
        "max_price_age_s": config.schedule.price_max_age_s,
        "filters": config.filters.model_dump(mode="json"),
    }
