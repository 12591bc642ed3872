"""Sparkplug B payloads: the data types, and encoding/decoding between protobuf bytes and Python values.

Supported: every metric data type of Sparkplug 3.0 — the basic scalars (Int8 … UInt64,
Float, Double, Boolean, String, DateTime, Text), UUID, Bytes, File, DataSet, the array
types (packed little-endian into ``bytes_value`` as the specification's §6.4.17 lays out)
and property sets on metrics. Python values:

=====================================  ==========================================
Sparkplug type                          Python value
=====================================  ==========================================
Int8 … Int64, UInt8 … UInt64            ``int`` (signed types sign-extended)
Float, Double                           ``float`` (Float as its shortest decimal)
Boolean                                 ``bool``
String, Text, UUID                      ``str`` (``uuid.UUID`` accepted on encode)
DateTime                                ``int`` epoch ms UTC (``datetime`` accepted on encode)
Bytes, File                             ``bytes``
DataSet                                 :class:`DataSet`
Template                                the protobuf ``Payload.Template`` message, as is
<type>Array                             ``tuple`` of the element type
=====================================  ==========================================

Not supported: templates are passed through as raw protobuf (not expanded into
metrics), extension values are ignored, and multi-part File transfers are not
reassembled.

Decoding is tolerant of the known disagreements between implementations: an integer is
read from whichever value field the sender used (UInt32 arrives in ``long_value`` from
older Tahu-based nodes, in ``int_value`` per the 3.0 text), and a signed integer is
sign-extended from its own width, whether the sender wrote 8 or 32 bits of two's
complement. Encoding follows the 3.0 text (Int8/16/32 and UInt8/16/32 in ``int_value`` as
32-bit two's complement; Int64, UInt64 and DateTime in ``long_value``).

Hot path: a host decoding data messages with hundreds of metrics parses once with
:func:`parse_payload` and reads each metric with the reader that :func:`value_reader`
returns for the datatype its birth declared — no per-metric dataclass, no dict building.
"""

from __future__ import annotations

import datetime as dt
import operator
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from commonworks.connect.sparkplug import sparkplug_b_pb2 as pb

PbPayload = pb.Payload
PbMetric = pb.Payload.Metric


class DataType(IntEnum):
    """Sparkplug data type codes (specification §6.4.16)."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


SCALAR_TYPES = frozenset(
    {
        DataType.Int8,
        DataType.Int16,
        DataType.Int32,
        DataType.Int64,
        DataType.UInt8,
        DataType.UInt16,
        DataType.UInt32,
        DataType.UInt64,
        DataType.Float,
        DataType.Double,
        DataType.Boolean,
        DataType.String,
        DataType.DateTime,
        DataType.Text,
        DataType.UUID,
    }
)
"""Types whose value is one number, boolean or string: the ones a platform sample can hold."""

_INT_BITS = {
    DataType.Int8: (8, True),
    DataType.Int16: (16, True),
    DataType.Int32: (32, True),
    DataType.Int64: (64, True),
    DataType.UInt8: (8, False),
    DataType.UInt16: (16, False),
    DataType.UInt32: (32, False),
    DataType.UInt64: (64, False),
}
# struct formats of the fixed-width array types (little-endian per the specification)
_ARRAY_FORMAT = {
    DataType.Int8Array: "b",
    DataType.Int16Array: "h",
    DataType.Int32Array: "i",
    DataType.Int64Array: "q",
    DataType.UInt8Array: "B",
    DataType.UInt16Array: "H",
    DataType.UInt32Array: "I",
    DataType.UInt64Array: "Q",
    DataType.FloatArray: "f",
    DataType.DoubleArray: "d",
    DataType.DateTimeArray: "q",
}
_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")


class SparkplugCodecError(ValueError):
    """A value does not fit its declared data type, or a payload cannot be parsed."""


@dataclass(slots=True)
class DataSet:
    """A table: column names, one data type per column (basic types only), rows of values."""

    columns: list[str]
    types: list[DataType]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(slots=True)
class Metric:
    """One metric of a payload. ``value=None`` is sent as ``is_null``.

    ``name`` may be ``None`` in data messages that address the metric by ``alias``.
    ``properties`` maps a key to ``(DataType, value)``; a nested property set is a dict again.
    """

    name: str | None
    datatype: DataType
    value: Any = None
    alias: int | None = None
    timestamp: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    properties: dict[str, tuple[DataType, Any]] | None = None


@dataclass(slots=True)
class Payload:
    """A decoded Sparkplug B payload. ``seq`` is ``None`` when absent (NDEATH)."""

    metrics: list[Metric] = field(default_factory=list)
    timestamp: int | None = None
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


# ---------------------------------------------------------------------------- decoding


def _sign_extend(bits: int) -> Callable[[Any], int]:
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    modulus = 1 << bits

    def convert(raw: Any) -> int:
        value = int(raw) & mask
        return value - modulus if value & sign else value

    return convert


def _unsigned(bits: int) -> Callable[[Any], int]:
    mask = (1 << bits) - 1

    def convert(raw: Any) -> int:
        return int(raw) & mask

    return convert


def _float32(raw: Any) -> float:
    # A float32 widened to a double prints as 21.899999618530273; the platform should see
    # 21.9. Take the shortest decimal (7 significant digits nearly always suffice) that
    # still maps back to the same float32, so no information is lost.
    value = float(raw)
    short = float(f"{value:.7g}")
    if _F32.unpack(_F32.pack(short))[0] == value:
        return short
    return float(f"{value:.9g}")


def _text(raw: Any) -> str:
    return raw if isinstance(raw, str) else str(raw)


def _array_decoder(fmt: str) -> Callable[[Any], tuple[Any, ...]]:
    size = struct.calcsize(fmt)

    def convert(raw: Any) -> tuple[Any, ...]:
        data = bytes(raw)
        if len(data) % size:
            raise SparkplugCodecError(f"array of {len(data)} bytes is not a multiple of {size}")
        return struct.unpack(f"<{len(data) // size}{fmt}", data)

    return convert


def _bool_array(raw: Any) -> tuple[bool, ...]:
    data = bytes(raw)
    if len(data) < 4:
        raise SparkplugCodecError("BooleanArray needs a 4-byte count")
    (count,) = _U32.unpack_from(data)
    if len(data) - 4 < (count + 7) // 8:
        raise SparkplugCodecError(f"BooleanArray of {count} values is truncated")
    # bits are packed most significant first
    return tuple(bool(data[4 + i // 8] & (0x80 >> (i % 8))) for i in range(count))


def _string_array(raw: Any) -> tuple[str, ...]:
    data = bytes(raw)
    if not data:
        return ()
    if not data.endswith(b"\0"):
        raise SparkplugCodecError("StringArray must end with a NUL byte")
    return tuple(part.decode("utf-8") for part in data[:-1].split(b"\0"))


_CONVERTERS: dict[DataType, Callable[[Any], Any]] = {
    DataType.Float: _float32,
    DataType.Double: float,
    DataType.Boolean: bool,
    DataType.String: _text,
    DataType.Text: _text,
    DataType.UUID: _text,
    DataType.DateTime: int,
    DataType.Bytes: bytes,
    DataType.File: bytes,
    DataType.BooleanArray: _bool_array,
    DataType.StringArray: _string_array,
}
for _type, (_bits, _signed) in _INT_BITS.items():
    _CONVERTERS[_type] = _sign_extend(_bits) if _signed else _unsigned(_bits)
for _type, _fmt in _ARRAY_FORMAT.items():
    _CONVERTERS[_type] = _array_decoder(_fmt)


def _decode_dataset(message: Any) -> DataSet:
    types = [DataType(t) for t in message.types]
    readers = [_CONVERTERS.get(t) for t in types]
    rows = []
    for row in message.rows:
        values: list[Any] = []
        for element, convert in zip(row.elements, readers, strict=False):
            which = element.WhichOneof("value")
            raw = getattr(element, which) if which is not None and which != "extension_value" else None
            values.append(None if raw is None or convert is None else convert(raw))
        rows.append(values)
    return DataSet(columns=list(message.columns), types=types, rows=rows)


def _value_of(message: Any, datatype: DataType) -> Any:
    """The Python value of any message with a ``value`` oneof (metric, property, parameter)."""
    which = message.WhichOneof("value")
    if which is None or which == "extension_value":
        return None
    raw = getattr(message, which)
    if which == "dataset_value":
        return _decode_dataset(raw)
    if which == "template_value":
        return raw
    if which == "propertyset_value":
        return _decode_properties(raw)
    if which == "propertysets_value":
        return [_decode_properties(s) for s in raw.propertyset]
    convert = _CONVERTERS.get(datatype)
    return raw if convert is None else convert(raw)


def _decode_properties(message: Any) -> dict[str, tuple[DataType, Any]]:
    result: dict[str, tuple[DataType, Any]] = {}
    for key, value in zip(message.keys, message.values, strict=False):
        datatype = DataType(value.type) if value.type in DataType._value2member_map_ else DataType.Unknown
        result[key] = (datatype, None if value.is_null else _value_of(value, datatype))
    return result


def value_reader(datatype: DataType) -> Callable[[Any], Any]:
    """A fast reader of a protobuf metric's Python value, for a datatype known from its birth."""
    convert = _CONVERTERS.get(datatype)
    if convert is None:
        return lambda metric: None if metric.is_null else _value_of(metric, datatype)

    def read(metric: Any) -> Any:
        which = metric.WhichOneof("value")
        if which is None or metric.is_null:
            return None
        return convert(getattr(metric, which))

    return read


_VALUE_FIELD = {
    DataType.Float: "float_value",
    DataType.Double: "double_value",
    DataType.Boolean: "boolean_value",
    DataType.String: "string_value",
    DataType.Text: "string_value",
    DataType.UUID: "string_value",
    DataType.DateTime: "long_value",
    DataType.Int64: "long_value",
    DataType.UInt64: "long_value",
    DataType.Int8: "int_value",
    DataType.Int16: "int_value",
    DataType.Int32: "int_value",
    DataType.UInt8: "int_value",
    DataType.UInt16: "int_value",
    DataType.UInt32: "int_value",
}
_NO_CONVERSION = frozenset(
    {DataType.Double, DataType.Boolean, DataType.String, DataType.Text, DataType.UUID, DataType.DateTime}
)

FastReader = tuple[Callable[[Any], Any], Callable[[Any], Any] | None, Callable[[Any], Any]]
"""``(get, convert, read)``: ``get(metric)`` is the raw value of the field the datatype's value
normally travels in; when it is truthy the value is ``convert(raw)`` (``raw`` itself when
``convert`` is None), otherwise ``read(metric)`` decides (zero, empty, null, another field)."""


def fast_reader(datatype: DataType) -> FastReader:
    """The pieces of :func:`value_reader` split for a host's inner loop over hundreds of metrics.

    Reading the expected field first costs one attribute access instead of a ``WhichOneof``, a
    null check and a ``getattr``; only a falsy raw value (0, 0.0, False, "", or the field not
    set) takes the full reader, so nulls, zeros and senders that use another field still read
    exactly as :func:`value_reader` reads them.
    """
    read = value_reader(datatype)
    field_name = _VALUE_FIELD.get(datatype)
    if field_name is None:
        return (lambda metric: None), None, read
    convert = None if datatype in _NO_CONVERSION else _CONVERTERS[datatype]
    return operator.attrgetter(field_name), convert, read


def metric_value(metric: Any, datatype: DataType) -> Any:
    """The Python value of one protobuf metric read as ``datatype`` (``None`` if null)."""
    if metric.is_null:
        return None
    return _value_of(metric, datatype)


def parse_payload(data: bytes) -> Any:
    """Parse bytes into the protobuf ``Payload`` message (raises :class:`SparkplugCodecError`)."""
    message = PbPayload()
    try:
        message.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError, or RuntimeWarning-ish errors from upb
        raise SparkplugCodecError(f"not a Sparkplug B payload: {exc}") from exc
    return message


def datatype_of(code: int) -> DataType:
    """The DataType for a wire code; unknown codes become ``DataType.Unknown``."""
    try:
        return DataType(code)
    except ValueError:
        return DataType.Unknown


def decode_payload(data: bytes, datatypes: Mapping[int | str, DataType] | None = None) -> Payload:
    """Decode a whole payload into dataclasses (births, commands, tests; not the data hot path).

    A metric without a ``datatype`` (normal in data messages) takes its type from
    ``datatypes``, looked up by alias and then by name; failing that it is ``Unknown`` and its
    value is the raw protobuf field.
    """
    message = parse_payload(data)
    metrics = []
    for m in message.metrics:
        if m.HasField("datatype"):
            datatype = datatype_of(m.datatype)
        elif datatypes is not None:
            datatype = datatypes.get(m.alias) or datatypes.get(m.name) or DataType.Unknown
        else:
            datatype = DataType.Unknown
        metrics.append(
            Metric(
                name=m.name if m.HasField("name") else None,
                datatype=datatype,
                value=metric_value(m, datatype),
                alias=m.alias if m.HasField("alias") else None,
                timestamp=m.timestamp if m.HasField("timestamp") else None,
                is_historical=m.is_historical,
                is_transient=m.is_transient,
                properties=_decode_properties(m.properties) if m.HasField("properties") else None,
            )
        )
    return Payload(
        metrics=metrics,
        timestamp=message.timestamp if message.HasField("timestamp") else None,
        seq=message.seq if message.HasField("seq") else None,
        uuid=message.uuid if message.HasField("uuid") else None,
        body=message.body if message.HasField("body") else None,
    )


# ---------------------------------------------------------------------------- encoding


def _epoch_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise SparkplugCodecError("a DateTime needs a time zone (naive datetimes are ambiguous)")
        return int(value.timestamp() * 1000)
    return int(value)


def _encode_int(datatype: DataType, value: Any) -> tuple[str, int]:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SparkplugCodecError(f"{datatype.name} needs an int, got {type(value).__name__}")
    bits, signed = _INT_BITS[datatype]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise SparkplugCodecError(f"{value} is out of range for {datatype.name}")
    if bits == 64:
        return "long_value", value & 0xFFFF_FFFF_FFFF_FFFF
    # 32-bit two's complement even for Int8/Int16: what Java/C implementations write
    return "int_value", value & 0xFFFF_FFFF


def _encode_array(datatype: DataType, values: Sequence[Any]) -> bytes:
    if datatype is DataType.BooleanArray:
        packed = bytearray((len(values) + 7) // 8)
        for i, flag in enumerate(values):
            if flag:
                packed[i // 8] |= 0x80 >> (i % 8)
        return _U32.pack(len(values)) + bytes(packed)
    if datatype is DataType.StringArray:
        return b"".join(str(v).encode("utf-8") + b"\0" for v in values)
    fmt = _ARRAY_FORMAT[datatype]
    items = [_epoch_ms(v) for v in values] if datatype is DataType.DateTimeArray else list(values)
    try:
        return struct.pack(f"<{len(items)}{fmt}", *items)
    except struct.error as exc:
        raise SparkplugCodecError(f"{datatype.name}: {exc}") from exc


def _scalar_field(datatype: DataType, value: Any) -> tuple[str, Any]:
    """The oneof field name and wire value of a basic-typed value."""
    if datatype in _INT_BITS:
        return _encode_int(datatype, value)
    if datatype is DataType.Float:
        return "float_value", float(value)
    if datatype is DataType.Double:
        return "double_value", float(value)
    if datatype is DataType.Boolean:
        return "boolean_value", bool(value)
    if datatype in (DataType.String, DataType.Text, DataType.UUID):
        return "string_value", str(value)
    if datatype is DataType.DateTime:
        return "long_value", _epoch_ms(value)
    raise SparkplugCodecError(f"{datatype.name} is not a basic type")


def _encode_dataset(target: Any, dataset: DataSet) -> None:
    if any(len(row) != len(dataset.columns) for row in dataset.rows) or len(dataset.types) != len(dataset.columns):
        raise SparkplugCodecError("every DataSet row needs one value per column, and one type per column")
    target.num_of_columns = len(dataset.columns)
    target.columns.extend(dataset.columns)
    target.types.extend(int(t) for t in dataset.types)
    for row in dataset.rows:
        out = target.rows.add()
        for datatype, value in zip(dataset.types, row, strict=True):
            element = out.elements.add()
            if value is not None:  # the schema has no null marker for cells: an unset cell reads as None
                name, wire = _scalar_field(DataType(datatype), value)
                setattr(element, name, wire)


def _encode_properties(target: Any, properties: Mapping[str, tuple[DataType, Any]]) -> None:
    for key, (datatype, value) in properties.items():
        target.keys.append(key)
        out = target.values.add()
        out.type = int(datatype)
        if value is None:
            out.is_null = True
        elif datatype is DataType.PropertySet:
            _encode_properties(out.propertyset_value, value)
        elif datatype is DataType.PropertySetList:
            for item in value:
                _encode_properties(out.propertysets_value.propertyset.add(), item)
        else:
            name, wire = _scalar_field(datatype, value)
            setattr(out, name, wire)


def set_metric_value(target: Any, datatype: DataType, value: Any) -> None:
    """Write ``value`` into a protobuf metric's value field as ``datatype`` (``None`` → ``is_null``)."""
    if value is None:
        target.is_null = True
        return
    if datatype in SCALAR_TYPES:
        name, wire = _scalar_field(datatype, value)
        setattr(target, name, wire)
    elif datatype in (DataType.Bytes, DataType.File):
        target.bytes_value = bytes(value)
    elif datatype in _ARRAY_FORMAT or datatype in (DataType.BooleanArray, DataType.StringArray):
        target.bytes_value = _encode_array(datatype, value)
    elif datatype is DataType.DataSet:
        _encode_dataset(target.dataset_value, value)
    elif datatype is DataType.Template:
        target.template_value.CopyFrom(value)
    else:
        raise SparkplugCodecError(f"cannot encode a metric of type {datatype.name}")


def encode_payload(
    metrics: Iterable[Metric],
    *,
    timestamp: int | None = None,
    seq: int | None = None,
    uuid_: str | None = None,
    body: bytes | None = None,
    with_datatypes: bool = True,
) -> bytes:
    """Serialize metrics into a Sparkplug B payload.

    ``with_datatypes=False`` leaves the ``datatype`` field out, as the specification
    recommends for NDATA/DDATA/NCMD/DCMD (the receiver knows the types from the birth).
    """
    message = PbPayload()
    if timestamp is not None:
        message.timestamp = timestamp
    if seq is not None:
        message.seq = seq
    if uuid_ is not None:
        message.uuid = uuid_
    if body is not None:
        message.body = body
    for metric in metrics:
        out = message.metrics.add()
        if metric.name is not None:
            out.name = metric.name
        if metric.alias is not None:
            out.alias = metric.alias
        if metric.timestamp is not None:
            out.timestamp = metric.timestamp
        if with_datatypes:
            out.datatype = int(metric.datatype)
        if metric.is_historical:
            out.is_historical = True
        if metric.is_transient:
            out.is_transient = True
        if metric.properties:
            _encode_properties(out.properties, metric.properties)
        value = metric.value
        if isinstance(value, uuid.UUID):
            value = str(value)
        set_metric_value(out, metric.datatype, value)
    data: bytes = message.SerializeToString()
    return data
