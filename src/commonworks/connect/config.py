"""The gateway's configuration file (YAML), validated up front with errors that point at the line to fix.

A factory engineer edits this file by hand, so a mistake must be reported as the file and
the field path (``gateway.yaml: devices.2.tags.5.address: …``), never a traceback::

    gateway:
      key: gw-hefei-1
      platform: {transport: http, url: "https://platform.example.cn", token: "cwg_…"}
      buffer: {path: buffer/gateway.db, max_samples: 5000000}
      batch: {max_samples: 5000, max_delay_ms: 500}
      status: {host: 127.0.0.1, port: 8710}
    devices:
      - {protocol: opcua, name: cnc-01, …}

Devices are validated by their protocol module, found through :data:`PROTOCOLS` (protocol
name → import path) and imported only when a device uses it: a Modbus-only gateway never
imports asyncua. Each protocol module exposes ``DEVICE_CONFIG`` (a pydantic model with
``protocol`` and ``name``) and ``CONNECTOR`` (a :class:`~commonworks.connect.base.Connector`
with ``from_config(config, emit)``). Other connectors (tests, site-specific ones) join with
:func:`register_protocol`.

Devices read by exception (``opcua``, ``sparkplug``, ``mqtt_json``) take ``republish_s``
(:data:`RepublishSeconds`): how long a tag's unchanged value goes unsent before the gateway sends it
again while the device's connection is healthy, so that a machine standing still is not taken for
offline (see :mod:`commonworks.connect.base`); 0 turns it off.

Tag keys must be unique across devices. They are found on a device config as a
``tag_keys()`` method or as a ``tags`` list whose items have a ``key``; protocols whose tags
are discovered at run time (Sparkplug) have neither and are checked when they connect.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from commonworks.connect.protocol import GATEWAY_TOKEN_PREFIX, MAX_BATCH_SAMPLES

PROTOCOLS: dict[str, str] = {
    "opcua": "commonworks.connect.opcua",
    "modbus": "commonworks.connect.modbus",
    "mqtt_json": "commonworks.connect.mqtt_json",
    "sparkplug": "commonworks.connect.sparkplug.host",
}
"""Protocol name (the ``protocol:`` of a device) → module exposing ``DEVICE_CONFIG`` and ``CONNECTOR``."""

REPUBLISH_DEFAULT_S = 60.0
"""Default ``republish_s`` of an OPC UA device: well under the platform's offline timeout (300 s by default)."""
REPUBLISH_MIN_S = 0.1
REPUBLISH_MAX_S = 3600.0


def _republish_seconds(value: Any) -> float:
    """Check ``republish_s``: 0 (off) or a number of seconds from 0.1 to 3600; a string or a bool is refused.

    >>> _republish_seconds(60), _republish_seconds(0), _republish_seconds(2.5)
    (60.0, 0.0, 2.5)
    """
    hint = f"0 turns re-sending off, or a number of seconds from {REPUBLISH_MIN_S:g} to {REPUBLISH_MAX_S:g}, e.g. 60"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number of seconds, not {value!r} ({hint})")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"must be a finite number of seconds, not {value!r} ({hint})")
    if seconds < 0:
        raise ValueError(f"cannot be negative, got {value!r} ({hint})")
    if 0 < seconds < REPUBLISH_MIN_S or seconds > REPUBLISH_MAX_S:
        raise ValueError(f"{value!r} is out of range ({hint})")
    return seconds


RepublishSeconds = Annotated[
    float,
    BeforeValidator(_republish_seconds),
    Field(description="re-send a tag's unchanged value after this many seconds while the device is connected; 0 = off"),
]
"""The ``republish_s`` option of a device that reports by exception (validated with a message that says what fits)."""

# Topic- and batch-id-safe: no MQTT wildcards, no '/', no ':' (the batch id separator).
_GATEWAY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def register_protocol(name: str, module_path: str) -> None:
    """Make ``protocol: <name>`` resolve to ``module_path`` (for tests and site-specific connectors)."""
    PROTOCOLS[name] = module_path


def load_protocol(name: str) -> ModuleType:
    """Import a protocol module; raises LookupError (unknown) or ImportError (not installed / broken)."""
    try:
        module_path = PROTOCOLS[name]
    except KeyError:
        raise LookupError(f"unknown protocol {name!r} (known: {', '.join(sorted(PROTOCOLS))})") from None
    module = importlib.import_module(module_path)
    for attribute in ("DEVICE_CONFIG", "CONNECTOR"):
        if not hasattr(module, attribute):
            raise ImportError(f"protocol module {module_path} has no {attribute}")
    return module


class ConfigError(Exception):
    """A configuration mistake: which file, which field, what is wrong (``str()`` is the one-line message)."""

    def __init__(self, source: str, field: str, message: str, more: int = 0) -> None:
        self.source = source
        self.field = field
        self.message = message
        self.more = more
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(where + message + (f" (and {more} more)" if more else ""))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not silently ignored


class PlatformConfig(_Strict):
    transport: Literal["http", "mqtt"] = "http"
    url: str = Field(description="http(s)://host[:port] of the platform, or mqtt(s)://host:port of its broker")
    token: str = Field(description="the gateway's credential issued by the platform (cwg_…)")
    max_in_flight: int | None = Field(
        default=None, ge=1, le=64, description="batches awaiting an ack at once (default: http 1, mqtt 8)"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="how long to wait for a batch's ack")

    @field_validator("token")
    @classmethod
    def _token_prefix(cls, token: str) -> str:
        if not token.startswith(GATEWAY_TOKEN_PREFIX) or len(token) <= len(GATEWAY_TOKEN_PREFIX):
            raise ValueError(
                f"a gateway token starts with {GATEWAY_TOKEN_PREFIX!r}; issue one for this gateway on the platform"
            )
        return token

    @field_validator("url")
    @classmethod
    def _url_fits_transport(cls, url: str, info: ValidationInfo) -> str:
        transport = info.data.get("transport", "http")
        parts = urlsplit(url)
        schemes = ("http", "https") if transport == "http" else ("mqtt", "mqtts")
        try:
            parts.port  # noqa: B018 — raises on a port that is not a number
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"for transport {transport!r} the url looks like {schemes[0]}://host:port, got {url!r}")
        return url.rstrip("/")

    @property
    def in_flight(self) -> int:
        # HTTP: one batch at a time keeps the platform's commit order equal to the queue order.
        return self.max_in_flight or (1 if self.transport == "http" else 8)


class BufferConfig(_Strict):
    path: Path = Field(default=Path("gateway-buffer.db"), description="SQLite file; relative to the config file")
    max_samples: int = Field(default=5_000_000, ge=1, description="when full, the oldest samples are dropped (counted)")


class BatchConfig(_Strict):
    max_samples: int = Field(default=5000, ge=1, le=MAX_BATCH_SAMPLES)
    max_delay_ms: int = Field(default=500, ge=10, le=60_000, description="how long samples wait in memory before disk")


class StatusConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 = no status endpoint")


class GatewaySection(_Strict):
    key: str = Field(description="this gateway's key on the platform, e.g. gw-hefei-1")
    platform: PlatformConfig
    buffer: BufferConfig = BufferConfig()
    batch: BatchConfig = BatchConfig()
    status: StatusConfig = StatusConfig()

    @field_validator("key")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        if not _GATEWAY_KEY.match(key):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 64), e.g. gw-hefei-1")
        return key


class _Document(_Strict):
    gateway: GatewaySection
    devices: list[dict[str, Any]] = Field(default_factory=list)


class GatewayConfig(BaseModel):
    """A validated configuration: the gateway section and one protocol config model per device."""

    gateway: GatewaySection
    devices: list[Any]  # instances of the protocols' DEVICE_CONFIG models
    source: str = "<config>"

    @classmethod
    def from_dict(
        cls, data: Any, *, source: str = "<config>", base_dir: Path | None = None, devices: bool = True
    ) -> GatewayConfig:
        """Validate a parsed document; raises :class:`ConfigError` naming the first bad field.

        ``devices=False`` checks only the gateway section (for tools that need not load protocols).
        """
        if not isinstance(data, dict):
            raise ConfigError(source, "", "expected a mapping with 'gateway' and 'devices'")
        try:
            document = _Document.model_validate(data)
        except ValidationError as exc:
            raise _config_error(source, exc) from None
        models = [_validate_device(source, index, raw) for index, raw in enumerate(document.devices)] if devices else []
        _check_unique(source, models)
        section = document.gateway
        if base_dir is not None and not section.buffer.path.is_absolute():
            # The buffer lives next to the config, not wherever the service happened to be started.
            section.buffer.path = base_dir / section.buffer.path
        return cls(gateway=section, devices=models, source=source)


def load_config(path: str | Path, *, devices: bool = True) -> GatewayConfig:
    """Read and validate a gateway YAML file; raises :class:`ConfigError` naming file and field."""
    import yaml

    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, where, f"not valid YAML: {problem}") from None
    return GatewayConfig.from_dict(data, source=source, base_dir=path.parent.resolve(), devices=devices)


def _validate_device(source: str, index: int, raw: dict[str, Any]) -> Any:
    protocol = raw.get("protocol")
    if not isinstance(protocol, str):
        raise ConfigError(source, f"devices.{index}.protocol", f"required; one of {', '.join(sorted(PROTOCOLS))}")
    try:
        module = load_protocol(protocol)
    except LookupError as exc:
        raise ConfigError(source, f"devices.{index}.protocol", str(exc.args[0])) from None
    except ImportError as exc:
        raise ConfigError(
            source, f"devices.{index}.protocol", f"protocol {protocol!r} is not available here: {exc}"
        ) from None
    try:
        return module.DEVICE_CONFIG.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(source, exc, prefix=("devices", index)) from None


def device_tag_keys(device: Any) -> Iterator[tuple[str, str]]:
    """(field path inside the device, tag key) for the tags a device config declares up front."""
    method = getattr(device, "tag_keys", None)
    if callable(method):
        for key in method():
            yield "name", key
        return
    tags = getattr(device, "tags", None)
    if isinstance(tags, list | tuple):
        for position, tag in enumerate(tags):
            key = tag.get("key") if isinstance(tag, dict) else getattr(tag, "key", None)
            if isinstance(key, str):
                yield f"tags.{position}.key", key


def _check_unique(source: str, devices: list[Any]) -> None:
    names: dict[str, int] = {}
    tags: dict[str, str] = {}
    for index, device in enumerate(devices):
        name = device.name
        if name in names:
            raise ConfigError(
                source, f"devices.{index}.name", f"device name {name!r} is already used by devices.{names[name]}"
            )
        names[name] = index
        for field, key in device_tag_keys(device):
            if key in tags:
                raise ConfigError(
                    source, f"devices.{index}.{field}", f"tag key {key!r} is already used by device {tags[key]!r}"
                )
            tags[key] = name


def _config_error(source: str, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = (*prefix, *first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown option (misspelt?)"
    return ConfigError(source, ".".join(str(part) for part in loc), message, more=len(errors) - 1)
