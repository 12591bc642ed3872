"""What a connector produces: timestamped values of platform tags.

One by one (:class:`Sample`), or many at once as columns (:class:`Block`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, overload

from pydantic import StringConstraints

Value = float | int | bool | str

TAG_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
MAX_TAG_KEY_LENGTH = 100
TAG_KEY_RE = re.compile(TAG_KEY_PATTERN)
TagKey = Annotated[str, StringConstraints(pattern=TAG_KEY_PATTERN, max_length=MAX_TAG_KEY_LENGTH)]
"""A platform tag key, e.g. ``cnc-01.spindle_speed`` (the platform checks the same rule)."""


@dataclass(slots=True, frozen=True)
class Sample:
    """A value of tag ``tag`` (the platform's tag key) at device time ``ts`` (epoch ms, UTC).

    ``value=None`` is a *stale marker*: from ``ts`` on the tag's last value is no longer
    current (device offline, Sparkplug NDEATH/DDEATH) — it is never stored as zero.
    """

    tag: str
    ts: int
    value: Value | None


class Block(Sequence[Sample]):
    """Samples as three parallel columns — what a connector emits when it reads many values at once.

    A Sparkplug DDATA message or a Modbus poll yields hundreds of values; keeping them as
    columns (``tags[i]``, ``ts[i]``, ``values[i]``) instead of one :class:`Sample` object each
    saves most of the gateway's per-value cost on its way to the disk queue. A block still
    reads like a sequence of samples (iteration and indexing make them on demand), so code
    that collects samples (tests, other consumers) works unchanged.
    """

    __slots__ = ("tags", "ts", "values")

    def __init__(self, tags: list[str], ts: list[int], values: list[Value | None]) -> None:
        if not len(tags) == len(ts) == len(values):
            raise ValueError("a block needs as many timestamps and values as tags")
        self.tags = tags
        self.ts = ts
        self.values = values

    def __len__(self) -> int:
        return len(self.tags)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return list(map(Sample, self.tags[index], self.ts[index], self.values[index]))
        return Sample(self.tags[index], self.ts[index], self.values[index])

    def __iter__(self) -> Iterator[Sample]:
        return map(Sample, self.tags, self.ts, self.values)

    def __repr__(self) -> str:
        return f"Block({len(self)} samples)"
