"""Bulk onboarding of enterprises into the network from JSON Lines (`commonworks network import`).

One enterprise per line::

    {"name_zh": "合肥精工机械有限公司", "name_en": "Hefei Precision Machining", "credit_code": "91340100MA2N0C0Q05",
     "region_code": "340100", "industry_code": "C34", "size_class": "small", "latitude": 31.82, "longitude": 117.23,
     "profile": {"published": true, "description_zh": "数控车铣加工…", "certifications": ["iso_9001"]},
     "capabilities": [{"process": "milling", "materials": ["aluminium", "stainless"], "envelope_x_mm": 850,
                       "envelope_y_mm": 500, "envelope_z_mm": 500, "tolerance_mm": 0.01, "price_per_hour": 160,
                       "hours_per_day": 16}]}

The organization is matched by its credit code: a new one is created, a known one updated
(its profile replaced, and its capabilities that are not attached to machines replaced by
the line's). Each line is its own transaction: a bad line is reported with its number and
what is wrong, and every other line is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from sqlalchemy import delete, select

from commonworks.core.database import Database
from commonworks.core.errors import AppError
from commonworks.core.orgs import service as orgs
from commonworks.core.orgs.models import Organization
from commonworks.core.orgs.schemas import OrgCreate
from commonworks.network.models import Capability, NetworkProfile
from commonworks.network.schemas import CapabilityCreate, ProfileIn

MAX_LINE_BYTES = 1_000_000


class CapabilityLine(CapabilityCreate):
    machine_ids: list[int] = Field(default_factory=list, max_length=0, description="machines attach in the app")


class EnterpriseLine(OrgCreate):
    profile: ProfileIn = Field(default_factory=ProfileIn)
    capabilities: list[CapabilityLine] = Field(default_factory=list, max_length=200)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    capabilities: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _save(session: Any, line: EnterpriseLine) -> bool:
    """Create or update one enterprise; True when it was new."""
    org = session.scalar(select(Organization).where(Organization.credit_code == line.credit_code))
    created = org is None
    if org is None:
        org = orgs.create(session=session, data=OrgCreate(**line.model_dump(exclude={"profile", "capabilities"})))
    else:
        for key in ("name_zh", "name_en", "region_code", "industry_code", "size_class", "latitude", "longitude"):
            setattr(org, key, getattr(line, key))
    profile = session.scalar(select(NetworkProfile).where(NetworkProfile.org_id == org.id))
    if profile is None:
        profile = NetworkProfile(org_id=org.id)
        session.add(profile)
    for key, value in line.profile.model_dump().items():
        setattr(profile, key, value)
    existing = session.scalars(select(Capability).where(Capability.org_id == org.id))
    stale = [c.id for c in existing if not c.machine_ids]
    if stale:
        session.execute(delete(Capability).where(Capability.id.in_(stale)))
    session.add_all(Capability(org_id=org.id, **c.model_dump()) for c in line.capabilities)
    session.flush()
    return created


def import_file(db: Database, path: Path) -> ImportReport:
    report = ImportReport()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise FileNotFoundError(f"{path}: {exc.strerror}") from exc
    seen: dict[str, int] = {}
    with handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                report.errors.append((number, f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            text = raw.strip()
            if not text or text.startswith(b"#"):
                continue
            try:
                document = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                report.errors.append((number, f"not JSON: {exc}"))
                continue
            if not isinstance(document, dict):
                report.errors.append((number, "a line must be one JSON object (an enterprise)"))
                continue
            try:
                line = EnterpriseLine.model_validate(document)
            except ValidationError as exc:
                report.errors.append((number, _explain(exc)))
                continue
            if line.credit_code in seen:
                report.errors.append((number, f"credit_code {line.credit_code} is already on line "
                                              f"{seen[line.credit_code]}"))
                continue
            seen[line.credit_code] = number
            try:
                with db.transaction() as session:
                    created = _save(session, line)
            except AppError as exc:
                report.errors.append((number, exc.message))
                continue
            report.created += created
            report.updated += not created
            report.capabilities += len(line.capabilities)
    return report
