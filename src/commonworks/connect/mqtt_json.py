"""MQTT JSON connector (protocol ``mqtt_json``): map topics and JSON fields of plain MQTT messages to tags.

Many machines, PLC gateways and IoT boxes publish one JSON object per message on topics
such as ``plant/cnc-01/telemetry``. A subscription names the topic as a template whose
``{placeholders}`` each match one topic level (or part of one: ``cell-{n}``), and maps
JSON field paths to tag key templates that may use the same placeholders::

    - protocol: mqtt_json
      name: plant-a-mqtt
      url: mqtt://192.168.1.10:1883        # mqtts:// for TLS (system CA store)
      username: gateway                    # optional, with password
      password: secret
      subscriptions:
        - topic: plant/{machine}/telemetry
          ts_field: ts                     # optional: epoch ms or ISO 8601; default receipt time
          values:
            spindle.speed: "{machine}.spindle_speed"   # nested field
            axes.0.load: "{machine}.x_load"            # list index
            state: "{machine}.state"

Supported: MQTT 3.1.1, QoS 0/1/2 subscriptions, ``+`` and a trailing ``#`` as literal
(unnamed) levels, dotted field paths with list indices, values that are numbers,
booleans or strings (JSON ``null`` becomes a stale marker: the device says it has no
current value), timestamps as epoch milliseconds (number or digit string) or ISO 8601
(a time without zone is taken as UTC). Rendered tag keys are lower-cased and any run of
characters outside ``[a-z0-9_.-]`` becomes ``_``.

Not supported: a payload that is a JSON array (one object per message), field names that
contain dots, epoch seconds (a 10-digit number is read as milliseconds), wildcards in the
middle of a placeholder level, MQTT 5 features.

Re-sending unchanged values (``republish_s``, see :mod:`commonworks.connect.base`) is off by default here: a
healthy connection to the broker says nothing about the machine behind it, so re-sending would keep a machine that
died silently looking alive. Turn it on (e.g. ``republish_s: 60``) only for devices that publish on change and
announce their own death on the mapped fields — a last will (MQTT LWT) whose payload sets them to JSON ``null``
(a stale marker). Nothing is re-sent while the broker connection is down, nor for a tag whose last value was
``null``.

Malformed JSON, missing fields, values of the wrong kind and bad timestamps are counted in
:meth:`MqttJsonConnector.diagnostics` and logged once per topic; they never end the
connector. A missing or unreadable timestamp does not drop the values: they are kept with
the receipt time and the bad timestamp is counted.

The module also holds what every MQTT-based connector here shares: broker settings
(:class:`MqttBrokerConfig`), the client factory (:func:`mqtt_client`), the tag-key rule
(:func:`normalize_tag_key`) and :func:`until_stopped`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import ssl
import string
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiomqtt
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from commonworks.connect.base import Connector, Emit, now_ms
from commonworks.connect.config import RepublishSeconds
from commonworks.connect.samples import MAX_TAG_KEY_LENGTH, TAG_KEY_RE, Sample, Value

_NOT_TAG_CHARS = re.compile(r"[^a-z0-9_.-]+")


def normalize_tag_key(raw: str) -> str | None:
    """Lower-case ``raw`` and replace each run of characters a tag key may not hold with ``_``.

    Returns ``None`` when nothing valid is left or the key is longer than 100 characters
    (``"Press 01/Stroke Count"`` → ``"press_01_stroke_count"``; ``"主轴转速"`` → ``None``:
    map such names explicitly).
    """
    key = _NOT_TAG_CHARS.sub("_", raw.lower()).strip("_.-")
    if not key or len(key) > MAX_TAG_KEY_LENGTH or not TAG_KEY_RE.match(key):
        return None
    return key


# ------------------------------------------------------------------------ broker settings


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_mqtt_url(url: str) -> BrokerAddress:
    """``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` → address (``ValueError`` if malformed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT url must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT url has no host: {url!r}")
    if parts.username or parts.password:
        raise ValueError("put MQTT credentials in username/password, not in the url")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"MQTT url must be mqtt://host:port only, got {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"MQTT url has a bad port: {url!r}") from exc
    return BrokerAddress(host=parts.hostname, port=port or (8883 if tls else 1883), tls=tls)


class MqttBrokerConfig(BaseModel):
    """Where an MQTT connector's broker is and how to log in."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="mqtt://host:port or mqtts://host:port")
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(default=None, description="default: a random id per connection")
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        parse_mqtt_url(url)
        return url


def mqtt_client(config: MqttBrokerConfig, *, will: aiomqtt.Will | None = None) -> aiomqtt.Client:
    """A fresh MQTT 3.1.1 clean-session client for one connection (aiomqtt does not reconnect)."""
    address = parse_mqtt_url(config.url)
    return aiomqtt.Client(
        address.host,
        address.port,
        username=config.username,
        password=config.password.get_secret_value() if config.password else None,
        identifier=config.client_id,
        will=will,
        clean_session=True,
        keepalive=config.keepalive_s,
        tls_context=ssl.create_default_context() if address.tls else None,
    )


async def until_stopped(stop: asyncio.Event, work: Awaitable[None]) -> None:
    """Run ``work`` until ``stop`` is set (then cancel it) or it fails (then raise its error).

    ``work`` ending on its own means the message stream ended, which is a lost connection.
    """
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    if stop.is_set():
        return
    error = None if task.cancelled() else task.exception()
    if error is not None:
        raise error
    raise ConnectionError("the broker closed the message stream")


# ------------------------------------------------------------------------ topic templates

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """``plant/{machine}/telemetry`` → MQTT filter ``plant/+/telemetry`` and a matcher."""

    template: str
    filter: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]

    @classmethod
    def compile(cls, template: str) -> TopicTemplate:
        if not template:
            raise ValueError("a topic template cannot be empty")
        levels = template.split("/")
        filter_levels: list[str] = []
        regex_levels: list[str] = []
        names: list[str] = []
        for index, level in enumerate(levels):
            if level == "#":
                if index != len(levels) - 1:
                    raise ValueError(f"'#' must be the last level of {template!r}")
                filter_levels.append("#")
                regex_levels.append(".*")
                continue
            if level == "+":
                filter_levels.append("+")
                regex_levels.append("[^/]+")
                continue
            if "+" in level or "#" in level:
                raise ValueError(f"wildcards must fill a whole level in {template!r}")
            found = _PLACEHOLDER.findall(level)
            rest = _PLACEHOLDER.sub("", level)
            if "{" in rest or "}" in rest:
                raise ValueError(f"bad placeholder in level {level!r} of {template!r}")
            if not found:
                filter_levels.append(level)
                regex_levels.append(re.escape(level))
                continue
            for name in found:
                if name in names:
                    raise ValueError(f"placeholder {{{name}}} appears twice in {template!r}")
                names.append(name)
            filter_levels.append("+")
            # literal text around placeholders is escaped; each placeholder takes at least one character
            pieces = _PLACEHOLDER.split(level)
            regex_levels.append(
                "".join(re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>[^/]+?)" for i, piece in enumerate(pieces))
            )
        regex = "/".join(regex_levels)
        if filter_levels[-1] == "#" and len(regex_levels) > 1:
            # "a/#" also matches "a" itself in MQTT
            regex = "/".join(regex_levels[:-1]) + "(?:/.*)?"
        return cls(
            template=template, filter="/".join(filter_levels), pattern=re.compile(regex + r"\Z"), names=tuple(names)
        )

    def match(self, topic: str) -> dict[str, str] | None:
        found = self.pattern.match(topic)
        return None if found is None else found.groupdict()


def _template_fields(template: str) -> set[str]:
    fields: set[str] = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"tag template {template!r}: use plain {{name}} placeholders")
        fields.add(name)
    return fields


# ------------------------------------------------------------------------ configuration


class JsonSubscription(BaseModel):
    """One topic template and the JSON fields of its messages that become tags."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(description="topic template, e.g. plant/{machine}/telemetry")
    ts_field: str | None = Field(default=None, description="field path of epoch ms or ISO 8601 time")
    values: dict[str, str] = Field(min_length=1, description="JSON field path → tag key template")

    @model_validator(mode="after")
    def _consistent(self) -> JsonSubscription:
        template = TopicTemplate.compile(self.topic)
        for path, tag in self.values.items():
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"bad field path {path!r}")
            unknown = _template_fields(tag) - set(template.names)
            if unknown:
                raise ValueError(f"tag template {tag!r} uses {sorted(unknown)} which topic {self.topic!r} lacks")
            if not _template_fields(tag) and normalize_tag_key(tag) != tag:
                raise ValueError(f"{tag!r} is not a valid tag key ([a-z0-9][a-z0-9_.-]*, at most 100 characters)")
        if self.ts_field is not None and any(not part for part in self.ts_field.split(".")):
            raise ValueError(f"bad ts_field path {self.ts_field!r}")
        return self


class MqttJsonConfig(MqttBrokerConfig):
    """A device block of ``protocol: mqtt_json`` in gateway.yaml."""

    protocol: Literal["mqtt_json"]
    name: str = Field(min_length=1)
    subscriptions: list[JsonSubscription] = Field(min_length=1)
    qos: Literal[0, 1, 2] = 1
    republish_s: RepublishSeconds = 0.0  # off: the broker's health is not the device's (see the module docstring)


# ------------------------------------------------------------------------ the connector

_MISSING: Any = object()


def _lookup(document: Any, path: tuple[str, ...]) -> Any:
    current = document
    for part in path:
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
            if current is _MISSING:
                return _MISSING
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def parse_timestamp(raw: Any) -> int | None:
    """Epoch ms (number or digit string) or ISO 8601 (no zone → UTC) → epoch ms; ``None`` if neither."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return int(raw) if raw > 0 else None
    if isinstance(raw, str):
        text = raw.strip()
        if text.isdigit():
            return int(text)
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return int(moment.timestamp() * 1000)
    return None


@dataclass(slots=True)
class _Compiled:
    config: JsonSubscription
    topic: TopicTemplate
    paths: list[tuple[tuple[str, ...], str]]  # (field path, tag template)
    ts_path: tuple[str, ...] | None
    tags: dict[tuple[str, ...], list[str | None]] = field(default_factory=dict)  # placeholder values → tag keys
    messages: int = 0


_TAG_CACHE_LIMIT = 10_000
_LOG_ONCE_LIMIT = 1_000


class MqttJsonConnector(Connector):
    """Subscribes to the configured topic templates and turns JSON fields into samples."""

    protocol = "mqtt_json"

    def __init__(self, config: MqttJsonConfig, emit: Emit) -> None:
        super().__init__(config.name, emit, [], republish_s=config.republish_s)
        self.config = config
        self._subscriptions = [
            _Compiled(
                config=s,
                topic=TopicTemplate.compile(s.topic),
                paths=[(tuple(path.split(".")), tag) for path, tag in s.values.items()],
                ts_path=tuple(s.ts_field.split(".")) if s.ts_field else None,
            )
            for s in config.subscriptions
        ]
        self._known_tags: set[str] = set()
        self.client: aiomqtt.Client | None = None
        self._logged: set[tuple[str, str]] = set()
        self.messages = 0
        self.unmatched_messages = 0
        self.malformed_payloads = 0
        self.missing_fields = 0
        self.bad_values = 0
        self.bad_timestamps = 0
        self.bad_tag_keys = 0

    @classmethod
    def from_config(cls, config: MqttJsonConfig, emit: Emit) -> MqttJsonConnector:
        return cls(config, emit)

    async def session(self, stop: asyncio.Event) -> None:
        async with mqtt_client(self.config) as client:
            self.client = client
            try:
                filters = sorted({s.topic.filter for s in self._subscriptions})
                qos: int = self.config.qos
                await client.subscribe([(f, qos) for f in filters])
                self.mark_available()
                await until_stopped(stop, self._read(client))
            finally:
                self.client = None

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            self.handle_message(message.topic.value, payload if isinstance(payload, bytes) else str(payload).encode())
            await self.room()  # the gateway's disk stage is behind: read on later (the broker holds the rest)

    def handle_message(self, topic: str, payload: bytes, received_ms: int | None = None) -> None:
        """Turn one message into samples (public so that tests and benchmarks can feed it directly)."""
        self.messages += 1
        received = now_ms() if received_ms is None else received_ms
        matched = False
        document: Any = _MISSING
        samples: list[Sample] = []
        for sub in self._subscriptions:
            groups = sub.topic.match(topic)
            if groups is None:
                continue
            matched = True
            sub.messages += 1
            if document is _MISSING:
                try:
                    document = orjson.loads(payload)
                except orjson.JSONDecodeError as exc:
                    self.malformed_payloads += 1
                    self._log_once(topic, "json", "malformed JSON on %s: %s", topic, exc)
                    return
                if not isinstance(document, dict):
                    self.malformed_payloads += 1
                    self._log_once(topic, "json", "payload on %s is not a JSON object", topic)
                    return
            ts = received
            if sub.ts_path is not None:
                raw_ts = _lookup(document, sub.ts_path)
                parsed = None if raw_ts is _MISSING else parse_timestamp(raw_ts)
                if parsed is None:
                    self.bad_timestamps += 1
                    self._log_once(
                        topic,
                        "ts",
                        "no usable %s on %s (got %r); using receipt time",
                        sub.config.ts_field,
                        topic,
                        None if raw_ts is _MISSING else raw_ts,
                    )
                else:
                    ts = parsed
            for (path, _), tag in zip(sub.paths, self._tags_for(sub, groups), strict=True):
                if tag is None:
                    continue
                raw = _lookup(document, path)
                if raw is _MISSING:
                    self.missing_fields += 1
                    self._log_once(topic, "missing:" + ".".join(path), "field %s missing on %s", ".".join(path), topic)
                    continue
                value: Value | None
                if raw is None or isinstance(raw, bool | int | float | str):
                    value = raw
                else:
                    self.bad_values += 1
                    self._log_once(
                        topic,
                        "value:" + ".".join(path),
                        "field %s on %s is a %s, not a value",
                        ".".join(path),
                        topic,
                        type(raw).__name__,
                    )
                    continue
                samples.append(Sample(tag=tag, ts=ts, value=value))
        if not matched:
            self.unmatched_messages += 1
            return
        if samples:
            self.publish(samples)

    def _tags_for(self, sub: _Compiled, groups: dict[str, str]) -> list[str | None]:
        key = tuple(groups[name] for name in sub.topic.names)
        tags = sub.tags.get(key)
        if tags is not None:
            return tags
        tags = []
        for _, template in sub.paths:
            tag = normalize_tag_key(template.format(**groups))
            if tag is None:
                self.bad_tag_keys += 1
                self._log_once(template, "tag", "tag template %s gives no valid tag key for %s", template, groups)
            elif tag not in self._known_tags:
                self._known_tags.add(tag)
                self.tag_keys.append(tag)  # so that a lost broker marks it stale
            tags.append(tag)
        if len(sub.tags) >= _TAG_CACHE_LIMIT:
            sub.tags.clear()  # a runaway topic space must not grow memory without bound
        sub.tags[key] = tags
        return tags

    def _log_once(self, topic: str, kind: str, message: str, *args: Any) -> None:
        key = (topic, kind)
        if key in self._logged or len(self._logged) >= _LOG_ONCE_LIMIT:
            return
        self._logged.add(key)
        self.log.warning(message, *args)

    def diagnostics(self) -> dict[str, Any]:
        result = super().diagnostics()
        result.update(
            {
                "messages": self.messages,
                "unmatched_messages": self.unmatched_messages,
                "malformed_payloads": self.malformed_payloads,
                "missing_fields": self.missing_fields,
                "bad_values": self.bad_values,
                "bad_timestamps": self.bad_timestamps,
                "bad_tag_keys": self.bad_tag_keys,
                "subscriptions": [
                    {"topic": s.config.topic, "filter": s.topic.filter, "messages": s.messages}
                    for s in self._subscriptions
                ],
            }
        )
        return result


DEVICE_CONFIG = MqttJsonConfig
CONNECTOR = MqttJsonConnector
