"""Store a synthetic network (``synth.generate_network``) as enterprises of the platform.

Used by the demo: a few dozen published suppliers around the demo factories, so that a
buyer's RFQ has real alternatives to rank. Each becomes an organization (valid credit and
region codes), a published profile, its capabilities and its published spare hours for the
next 28 days. Idempotent: an enterprise whose credit code exists is left as it is.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from commonworks.core.codes import credit_code_with_check
from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
from commonworks.network import synth
from commonworks.network.models import Capability, CapacityOffer, NetworkProfile

# GB/T 2260 codes of the cities the generator places enterprises in
CITY_CODES = {
    "合肥": "340100", "芜湖": "340200", "青岛": "370200", "宁波": "330200", "东莞": "441900", "深圳": "440300",
    "苏州": "320500", "昆山": "320583", "无锡": "320200", "常州": "320400", "佛山": "440600", "中山": "442000",
    "温州": "330300", "台州": "331000", "杭州": "330100", "嘉兴": "330400", "绍兴": "330600", "南京": "320100",
    "天津": "120100", "沈阳": "210100", "大连": "210200", "西安": "610100", "成都": "510100", "重庆": "500100",
    "武汉": "420100", "长沙": "430100", "株洲": "430200", "郑州": "410100", "烟台": "370600", "潍坊": "370700",
    "泊头": "130981", "柳州": "450200", "厦门": "350200", "泉州": "350500",
}
INDUSTRY = "C3484"  # general-purpose parts processing (the generator's shops are job shops)


def credit_code(region_code: str, seed: int, serial: int) -> str:
    """A well-formed demo credit code: 91 (enterprise) + region + a made-up organization code.

    >>> credit_code("340100", 2026, 7)
    '91340100MA26000072'
    """
    if not 0 <= serial < 100_000:
        raise ValueError("the demo network has at most 100,000 enterprises per seed")
    return credit_code_with_check(f"91{region_code}MA{seed % 100:02d}{serial:05d}")


def store(session: Session, n: int, *, seed: int, today: date) -> int:
    """Add the first ``n`` enterprises of the seeded network; returns how many were new."""
    added = 0
    for i, profile in enumerate(synth.generate_network(n, seed)):
        region = CITY_CODES.get(profile.region, "340100")
        code = credit_code(region, seed, i)
        if session.scalar(select(Organization.id).where(Organization.credit_code == code)) is not None:
            continue
        org = Organization(name_zh=profile.name, name_en=None, credit_code=code, region_code=region,
                           industry_code=INDUSTRY, size_class=SizeClass.small, kind=OrgKind.manufacturer,
                           latitude=profile.lat, longitude=profile.lon)
        session.add(org)
        session.flush()
        session.add(NetworkProfile(org_id=org.id, published=True, description_zh=profile.description_zh,
                                   description_en=profile.description_en,
                                   certifications=sorted(profile.certifications), lead_time_days=7))
        for c in profile.capabilities:
            x, y, z = c.envelope_mm or (None, None, None)
            row = Capability(org_id=org.id, process=c.process, materials=list(c.materials), envelope_x_mm=x,
                             envelope_y_mm=y, envelope_z_mm=z, tolerance_mm=c.tolerance_mm,
                             finish_ra_um=c.finish_ra_um, batch_min=c.batch_min, batch_max=c.batch_max,
                             price_per_hour=float(c.price_per_hour) if c.price_per_hour is not None else None,
                             hours_per_day=max(c.free_hours, default=0.0), machine_ids=[])
            session.add(row)
            session.flush()
            session.add_all(CapacityOffer(org_id=org.id, capability_id=row.id, day=today + timedelta(days=d),
                                          hours=hours, price_per_hour=row.price_per_hour)
                            for d, hours in enumerate(c.free_hours) if hours > 0)
        added += 1
    session.flush()
    return added
