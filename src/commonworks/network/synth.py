"""A seeded, realistic synthetic manufacturing network: supplier profiles and demands (for benchmarks and the demo).

Enterprises sit in ~34 Chinese industrial cities (approximate real coordinates, jittered by a
few km), each city with its own mix of industry clusters — die casting and moulds in 宁波/台州,
CNC job shops in 东莞/苏州/昆山, aluminium extrusion in 佛山, castings in 泊头, aerospace machining
in 西安/成都, car parts in 芜湖/合肥/柳州 … A cluster says which processes its shops offer (the first
ones most often), and each process what it is done on: materials, work envelope, tolerance,
surface finish, batch sizes and price per hour in CNY. Certifications follow realistic rates
(ISO 9001 common, IATF 16949 in automotive clusters, AS9100/Nadcap only in aerospace).
Free hours per day for 28 days derive from the number of machines, two shifts and a utilisation
that varies per day, with quieter Sundays and some shops booked out for the first days.
Descriptions are company-style zh and en text written with the names buyers use (aliases).

Deterministic for a seed; enterprise ``i`` depends only on ``(seed, i)``, so a small network is
a prefix of a larger one with the same seed. About 40 µs per enterprise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache

from commonworks.network.matching import HORIZON_DAYS, Capability, Demand, SupplierProfile
from commonworks.network.taxonomy import taxonomy

# (zh, en, lat, lon, {cluster: weight})
REGIONS: list[tuple[str, str, float, float, dict[str, float]]] = [
    ("合肥", "Hefei", 31.82, 117.23, {"cnc": 3, "sheet_metal": 3, "auto_stamping": 3, "plastics": 3, "electronics": 2}),
    ("芜湖", "Wuhu", 31.33, 118.38, {"auto_stamping": 4, "cnc": 2, "die_casting": 2, "surface": 1, "plastics": 1}),
    ("青岛", "Qingdao", 36.07, 120.38, {"plastics": 3, "sheet_metal": 2, "cnc": 2, "foundry": 1, "rubber_forging": 1}),
    ("宁波", "Ningbo", 29.87, 121.54, {"mould": 4, "die_casting": 3, "plastics": 3, "cnc": 2, "surface": 1}),
    ("东莞", "Dongguan", 23.02, 113.75, {"cnc": 4, "plastics": 3, "mould": 3, "sheet_metal": 2, "electronics": 2}),
    ("深圳", "Shenzhen", 22.54, 114.06, {"cnc": 3, "electronics": 4, "additive": 1, "sheet_metal": 2, "mould": 2}),
    ("苏州", "Suzhou", 31.30, 120.62, {"cnc": 4, "sheet_metal": 3, "electronics": 2, "medical": 2, "surface": 1}),
    ("昆山", "Kunshan", 31.38, 120.98, {"cnc": 4, "mould": 2, "sheet_metal": 2, "electronics": 2, "surface": 1}),
    ("无锡", "Wuxi", 31.49, 120.31, {"cnc": 3, "heat_treatment": 2, "forging": 2, "sheet_metal": 2, "gear": 1}),
    ("常州", "Changzhou", 31.81, 119.97, {"cnc": 3, "medical": 2, "gear": 2, "sheet_metal": 2, "welding": 1}),
    ("佛山", "Foshan", 23.02, 113.12, {"extrusion": 4, "sheet_metal": 3, "surface": 2, "die_casting": 2, "cnc": 1}),
    ("中山", "Zhongshan", 22.52, 113.39, {"die_casting": 2, "plastics": 3, "sheet_metal": 2, "surface": 1, "cnc": 1}),
    ("温州", "Wenzhou", 28.00, 120.67, {"foundry": 3, "cnc": 3, "stamping": 2, "surface": 1, "forging": 1}),
    ("台州", "Taizhou", 28.66, 121.42, {"plastics": 3, "mould": 3, "die_casting": 2, "cnc": 2, "foundry": 1}),
    ("杭州", "Hangzhou", 30.27, 120.15, {"cnc": 3, "sheet_metal": 2, "electronics": 2, "additive": 1, "gear": 1}),
    ("嘉兴", "Jiaxing", 30.75, 120.76, {"cnc": 2, "stamping": 2, "plastics": 2, "surface": 1}),
    ("绍兴", "Shaoxing", 30.00, 120.58, {"cnc": 2, "foundry": 1, "sheet_metal": 2, "welding": 1}),
    ("南京", "Nanjing", 32.06, 118.80, {"cnc": 2, "welding": 2, "sheet_metal": 2, "heat_treatment": 1}),
    ("天津", "Tianjin", 39.08, 117.20, {"auto_stamping": 2, "welding": 2, "cnc": 2, "forging": 1, "surface": 1}),
    ("沈阳", "Shenyang", 41.80, 123.43, {"foundry": 2, "welding": 2, "cnc": 2, "forging": 2, "aerospace": 1}),
    ("大连", "Dalian", 38.91, 121.61, {"cnc": 2, "foundry": 2, "gear": 2, "welding": 1}),
    ("西安", "Xi'an", 34.34, 108.94, {"aerospace": 4, "cnc": 2, "heat_treatment": 1, "additive": 1}),
    ("成都", "Chengdu", 30.57, 104.07, {"aerospace": 3, "cnc": 2, "sheet_metal": 2, "electronics": 1}),
    ("重庆", "Chongqing", 29.56, 106.55, {"auto_stamping": 3, "die_casting": 2, "cnc": 2, "gear": 2, "forging": 1}),
    ("武汉", "Wuhan", 30.59, 114.30, {"auto_stamping": 3, "cnc": 2, "welding": 1, "plastics": 1}),
    ("长沙", "Changsha", 28.23, 112.94, {"welding": 3, "cnc": 2, "heat_treatment": 1, "foundry": 1}),
    ("株洲", "Zhuzhou", 27.83, 113.13, {"cnc": 2, "welding": 2, "aerospace": 1, "gear": 1}),
    ("郑州", "Zhengzhou", 34.75, 113.62, {"welding": 2, "cnc": 2, "foundry": 1, "sheet_metal": 1}),
    ("烟台", "Yantai", 37.46, 121.45, {"auto_stamping": 2, "cnc": 2, "plastics": 1, "forging": 1}),
    ("潍坊", "Weifang", 36.71, 119.16, {"foundry": 3, "cnc": 2, "gear": 2, "heat_treatment": 1}),
    ("泊头", "Botou", 38.08, 116.58, {"foundry": 5, "mould": 1, "cnc": 1}),
    ("厦门", "Xiamen", 24.48, 118.09, {"electronics": 2, "plastics": 2, "cnc": 2, "sheet_metal": 1}),
    ("泉州", "Quanzhou", 24.87, 118.68, {"plastics": 2, "mould": 2, "stamping": 1, "surface": 1}),
    ("柳州", "Liuzhou", 24.33, 109.42, {"auto_stamping": 4, "welding": 2, "cnc": 1, "plastics": 1}),
]

# cluster: (processes with weights, the first few most common; certification rates;
#           zh/en company suffix; zh/en industries served)
CLUSTERS: dict[str, dict] = {
    "cnc": dict(
        processes=[
            ("milling", 5),
            ("turning", 5),
            ("milling_5axis", 2),
            ("turn_mill", 2),
            ("drilling", 2),
            ("grinding", 2),
            ("wire_edm", 1),
            ("anodizing", 1),
        ],
        certs={"iso_9001": 0.75, "iatf_16949": 0.15, "iso_13485": 0.04, "as9100": 0.02},
        suffix=("精密机械", "Precision Machinery"),
        industries=["auto", "medical", "electronics", "automation"],
    ),
    "sheet_metal": dict(
        processes=[
            ("laser_cutting", 5),
            ("bending", 5),
            ("mig_mag_welding", 3),
            ("tig_welding", 2),
            ("shearing", 2),
            ("powder_coating", 2),
            ("riveting", 1),
            ("stamping", 1),
        ],
        certs={"iso_9001": 0.7, "iatf_16949": 0.08},
        suffix=("钣金制造", "Sheet Metal"),
        industries=["electrical", "machinery", "new_energy", "appliances"],
    ),
    "auto_stamping": dict(
        processes=[
            ("progressive_die_stamping", 4),
            ("stamping", 4),
            ("deep_drawing", 2),
            ("spot_welding", 3),
            ("robotic_welding", 2),
            ("e_coating", 1),
            ("assembly", 1),
        ],
        certs={"iso_9001": 0.85, "iatf_16949": 0.55},
        suffix=("汽车部件", "Auto Parts"),
        industries=["auto", "new_energy"],
    ),
    "stamping": dict(
        processes=[
            ("stamping", 5),
            ("progressive_die_stamping", 2),
            ("deep_drawing", 2),
            ("electroplating", 1),
            ("riveting", 1),
        ],
        certs={"iso_9001": 0.65, "iatf_16949": 0.15},
        suffix=("五金制品", "Hardware"),
        industries=["appliances", "electrical", "furniture"],
    ),
    "plastics": dict(
        processes=[("injection_moulding", 6), ("two_shot_moulding", 2), ("blow_moulding", 1), ("assembly", 1)],
        certs={"iso_9001": 0.7, "iatf_16949": 0.15, "iso_13485": 0.04},
        suffix=("塑胶制品", "Plastics"),
        industries=["appliances", "auto", "electronics", "medical"],
    ),
    "mould": dict(
        processes=[
            ("milling", 3),
            ("wire_edm", 3),
            ("sinker_edm", 3),
            ("injection_moulding", 2),
            ("grinding", 2),
            ("milling_5axis", 1),
        ],
        certs={"iso_9001": 0.6},
        suffix=("模具", "Mould"),
        industries=["moulds", "appliances", "auto"],
    ),
    "die_casting": dict(
        processes=[("die_casting", 6), ("milling", 2), ("drilling", 1), ("anodizing", 1), ("powder_coating", 1)],
        certs={"iso_9001": 0.75, "iatf_16949": 0.3},
        suffix=("压铸", "Die Casting"),
        industries=["auto", "new_energy", "appliances", "lighting"],
    ),
    "foundry": dict(
        processes=[("sand_casting", 5), ("investment_casting", 3), ("turning", 1), ("annealing", 1), ("milling", 1)],
        certs={"iso_9001": 0.65, "iso_14001": 0.2},
        suffix=("铸造", "Foundry"),
        industries=["valves", "machinery", "construction"],
    ),
    "forging": dict(
        processes=[("forging", 6), ("turning", 2), ("hardening", 2), ("annealing", 1)],
        certs={"iso_9001": 0.7, "iatf_16949": 0.2},
        suffix=("锻造", "Forging"),
        industries=["auto", "construction", "rail"],
    ),
    "rubber_forging": dict(
        processes=[("forging", 3), ("extrusion", 2), ("injection_moulding", 2)],
        certs={"iso_9001": 0.6},
        suffix=("工业制品", "Industrial Products"),
        industries=["auto", "machinery"],
    ),
    "surface": dict(
        processes=[
            ("electroplating", 4),
            ("anodizing", 4),
            ("powder_coating", 3),
            ("painting", 2),
            ("hot_dip_galvanizing", 1),
            ("e_coating", 1),
        ],
        certs={"iso_9001": 0.6, "iso_14001": 0.45, "iatf_16949": 0.1, "nadcap": 0.01},
        suffix=("表面处理", "Surface Treatment"),
        industries=["auto", "electronics", "construction"],
    ),
    "heat_treatment": dict(
        processes=[
            ("hardening", 5),
            ("carburizing", 3),
            ("nitriding", 3),
            ("vacuum_heat_treatment", 2),
            ("annealing", 2),
        ],
        certs={"iso_9001": 0.7, "iatf_16949": 0.25, "nadcap": 0.02},
        suffix=("热处理", "Heat Treatment"),
        industries=["auto", "moulds", "machinery"],
    ),
    "gear": dict(
        processes=[("gear_cutting", 5), ("turning", 3), ("grinding", 2), ("carburizing", 1), ("hardening", 1)],
        certs={"iso_9001": 0.75, "iatf_16949": 0.3},
        suffix=("齿轮传动", "Gear & Transmission"),
        industries=["auto", "machinery", "automation"],
    ),
    "welding": dict(
        processes=[
            ("robotic_welding", 3),
            ("mig_mag_welding", 4),
            ("tig_welding", 2),
            ("laser_cutting", 2),
            ("bending", 2),
            ("assembly", 1),
            ("painting", 1),
        ],
        certs={"iso_9001": 0.7, "iso_45001": 0.2},
        suffix=("焊接结构", "Welded Structures"),
        industries=["construction", "machinery", "rail"],
    ),
    "aerospace": dict(
        processes=[
            ("milling_5axis", 5),
            ("turn_mill", 3),
            ("grinding", 2),
            ("wire_edm", 2),
            ("metal_3d_printing", 1),
            ("vacuum_heat_treatment", 1),
            ("anodizing", 1),
        ],
        certs={"iso_9001": 0.9, "as9100": 0.55, "nadcap": 0.12},
        suffix=("航空零部件", "Aero Components"),
        industries=["aerospace", "medical"],
    ),
    "medical": dict(
        processes=[
            ("turn_mill", 3),
            ("milling_5axis", 2),
            ("turning", 2),
            ("injection_moulding", 2),
            ("laser_welding", 1),
            ("assembly", 1),
        ],
        certs={"iso_9001": 0.9, "iso_13485": 0.6},
        suffix=("医疗器械配件", "Medical Components"),
        industries=["medical"],
    ),
    "electronics": dict(
        processes=[
            ("assembly", 5),
            ("adhesive_bonding", 2),
            ("injection_moulding", 2),
            ("laser_welding", 1),
            ("stamping", 1),
        ],
        certs={"iso_9001": 0.8, "iso_13485": 0.05, "iatf_16949": 0.1},
        suffix=("电子科技", "Electronics"),
        industries=["electronics", "appliances", "new_energy"],
    ),
    "extrusion": dict(
        processes=[("extrusion", 5), ("anodizing", 3), ("milling", 2), ("powder_coating", 2), ("drilling", 1)],
        certs={"iso_9001": 0.7},
        suffix=("铝业", "Aluminium"),
        industries=["construction", "furniture", "new_energy"],
    ),
    "additive": dict(
        processes=[("additive_manufacturing", 4), ("metal_3d_printing", 3), ("milling", 1)],
        certs={"iso_9001": 0.6, "as9100": 0.08, "iso_13485": 0.08},
        suffix=("增材科技", "Additive"),
        industries=["aerospace", "medical", "automation"],
    ),
}
BASE_CERTS = {"iso_14001": 0.25, "iso_45001": 0.1}

INDUSTRIES = {
    "auto": ("汽车零部件", "automotive"),
    "medical": ("医疗器械", "medical devices"),
    "electronics": ("消费电子", "electronics"),
    "automation": ("自动化设备", "automation"),
    "electrical": ("电气柜", "electrical cabinets"),
    "machinery": ("通用机械", "machinery"),
    "new_energy": ("新能源", "new energy"),
    "appliances": ("家电", "home appliances"),
    "furniture": ("家具五金", "furniture hardware"),
    "moulds": ("模具", "tooling"),
    "lighting": ("灯饰", "lighting"),
    "valves": ("阀门泵业", "valves and pumps"),
    "construction": ("工程机械", "construction machinery"),
    "rail": ("轨道交通", "rail"),
    "aerospace": ("航空航天", "aerospace"),
}

STEELS = ["steel", "steel_q235", "steel_45", "steel_40cr"]
STAINLESS = ["stainless", "stainless_304", "stainless_316"]
ALUMINIUM = ["aluminium", "aluminium_6061", "aluminium_7075"]
PLASTICS = ["abs", "pp", "pa66", "pc", "pom"]


@dataclass(frozen=True)
class _Spec:
    """What a process is done on, and for how much."""

    materials: tuple[str, ...]
    envelopes: tuple[tuple[float, float, float] | None, ...]
    tolerances: tuple[float | None, ...]
    finishes: tuple[float | None, ...]
    batch_min: tuple[int, ...]
    batch_max: tuple[int | None, ...]
    price: tuple[int, int]  # CNY per hour
    machine: tuple[str, str]  # zh, en
    hours: tuple[int, int]  # typical job size in machine hours (demands)


def _spec(materials, envelopes, tolerances, finishes, batch_min, batch_max, price, machine, hours=(4, 60)) -> _Spec:
    return _Spec(
        tuple(materials),
        tuple(envelopes),
        tuple(tolerances),
        tuple(finishes),
        tuple(batch_min),
        tuple(batch_max),
        price,
        machine,
        hours,
    )


_MACHINING = [*STEELS, *STAINLESS, *ALUMINIUM, "copper", "pom", "tool_steel"]
_MILL_ENV = [(600, 400, 400), (850, 500, 500), (1000, 600, 600), (1300, 700, 650), (2000, 1000, 800)]
_SHEET = ["steel", "steel_q235", "stainless", "stainless_304", "aluminium", "copper"]
SPECS: dict[str, _Spec] = {
    "milling": _spec(
        _MACHINING,
        _MILL_ENV,
        [0.01, 0.02, 0.02, 0.03, 0.05],
        [0.8, 1.6, 1.6, 3.2],
        [1, 1, 10],
        [5000, 20000, None],
        (70, 150),
        ("加工中心", "machining centres"),
    ),
    "milling_5axis": _spec(
        [*_MACHINING, "titanium", "peek"],
        [(500, 400, 350), (650, 550, 450), (800, 800, 550)],
        [0.005, 0.008, 0.01, 0.01],
        [0.4, 0.8, 0.8],
        [1],
        [500, 2000, 5000],
        (180, 450),
        ("五轴加工中心", "5-axis machining centres"),
    ),
    "turning": _spec(
        _MACHINING,
        [(300, 300, 500), (400, 400, 800), (600, 600, 1500)],
        [0.01, 0.02, 0.03],
        [0.8, 1.6, 3.2],
        [1, 10, 50],
        [10000, 50000, None],
        (50, 110),
        ("数控车床", "CNC lathes"),
    ),
    "turn_mill": _spec(
        [*STAINLESS, *ALUMINIUM, "steel_45", "copper", "titanium", "peek"],
        [(32, 32, 300), (65, 65, 500), (200, 200, 600)],
        [0.005, 0.01],
        [0.4, 0.8],
        [1, 100],
        [20000, 100000],
        (120, 260),
        ("车铣复合机床", "turn-mill centres"),
    ),
    "drilling": _spec(
        _MACHINING,
        _MILL_ENV,
        [0.05, 0.1],
        [3.2, 6.3],
        [1, 10],
        [20000, None],
        (40, 90),
        ("钻攻中心", "drill-tap centres"),
        (2, 30),
    ),
    "grinding": _spec(
        [*STEELS, "tool_steel", *STAINLESS],
        [(600, 300, 300), (1000, 500, 400), (400, 400, 1000)],
        [0.002, 0.005, 0.005],
        [0.2, 0.4, 0.8],
        [1, 10],
        [5000, 20000],
        (90, 200),
        ("磨床", "grinders"),
    ),
    "gear_cutting": _spec(
        ["steel_45", "steel_40cr", "steel", "copper"],
        [(300, 300, 300), (800, 800, 500)],
        [0.01, 0.02],
        [0.8, 1.6],
        [10, 100],
        [20000, None],
        (90, 180),
        ("滚齿机", "gear hobbers"),
    ),
    "wire_edm": _spec(
        ["tool_steel", *STEELS, "copper", "titanium", *STAINLESS],
        [(400, 300, 250), (600, 400, 350)],
        [0.002, 0.005, 0.01],
        [0.4, 0.8, 1.6],
        [1],
        [200, 1000],
        (60, 160),
        ("慢走丝", "wire EDMs"),
    ),
    "sinker_edm": _spec(
        ["tool_steel", *STEELS, "copper"],
        [(400, 300, 250), (800, 500, 400)],
        [0.005, 0.01],
        [0.4, 0.8, 1.6],
        [1],
        [100, 500],
        (60, 140),
        ("电火花机", "sinker EDMs"),
    ),
    "laser_cutting": _spec(
        _SHEET,
        [(3000, 1500, 20), (4000, 2000, 25), (6000, 2500, 30)],
        [0.05, 0.1, 0.1],
        [6.3, 12.5],
        [1],
        [None],
        (120, 260),
        ("光纤激光切割机", "fibre lasers"),
        (2, 40),
    ),
    "bending": _spec(
        _SHEET,
        [(2500, 1000, 400), (3200, 1500, 500), (4000, 2000, 600)],
        [0.1, 0.2, 0.3],
        [None],
        [1],
        [None],
        (80, 160),
        ("数控折弯机", "press brakes"),
        (2, 40),
    ),
    "shearing": _spec(
        _SHEET,
        [(2500, 1500, 10), (4000, 2000, 16)],
        [0.2, 0.5],
        [None],
        [1],
        [None],
        (50, 100),
        ("剪板机", "shears"),
        (1, 20),
    ),
    "stamping": _spec(
        ["steel", "steel_q235", "stainless_304", "aluminium", "copper"],
        [(800, 600, 300), (1500, 1000, 500), (2500, 1500, 800)],
        [0.05, 0.1],
        [None],
        [1000, 5000],
        [None],
        (150, 400),
        ("冲床", "presses"),
        (4, 80),
    ),
    "progressive_die_stamping": _spec(
        ["steel", "steel_q235", "stainless_304", "copper", "aluminium"],
        [(300, 200, 100), (600, 400, 200)],
        [0.02, 0.05],
        [None],
        [10000, 50000],
        [None],
        (200, 500),
        ("高速冲床", "high-speed presses"),
        (8, 120),
    ),
    "deep_drawing": _spec(
        ["steel", "stainless_304", "aluminium"],
        [(500, 500, 400), (1000, 1000, 600)],
        [0.05, 0.1],
        [None],
        [1000, 5000],
        [None],
        (180, 450),
        ("油压机", "hydraulic presses"),
    ),
    "forging": _spec(
        ["steel_45", "steel_40cr", "steel", "stainless", "aluminium", "titanium", "copper"],
        [(300, 300, 300), (600, 600, 600), (1200, 800, 800)],
        [0.5, 1.0],
        [12.5],
        [100, 500],
        [None],
        (150, 400),
        ("锻压机", "forging presses"),
        (8, 100),
    ),
    "extrusion": _spec(
        ["aluminium", "aluminium_6061", "copper"],
        [(300, 300, 6000), (500, 500, 12000)],
        [0.1, 0.2],
        [1.6, 3.2],
        [500, 1000],
        [None],
        (150, 350),
        ("挤压机", "extrusion presses"),
    ),
    "injection_moulding": _spec(
        [*PLASTICS, "peek", "rubber"],
        [(400, 300, 300), (800, 600, 500), (1200, 900, 700)],
        [0.02, 0.05, 0.1],
        [0.8, 1.6],
        [500, 1000, 5000],
        [None],
        (60, 200),
        ("注塑机", "injection moulding machines"),
        (8, 120),
    ),
    "two_shot_moulding": _spec(
        ["abs", "pc", "pp", "rubber"],
        [(300, 300, 200), (600, 500, 400)],
        [0.05, 0.1],
        [0.8, 1.6],
        [2000, 5000],
        [None],
        (120, 260),
        ("双色注塑机", "two-shot presses"),
    ),
    "blow_moulding": _spec(
        ["pp", "plastic"],
        [(400, 400, 800), (800, 800, 1500)],
        [0.3, 0.5],
        [None],
        [1000],
        [None],
        (80, 180),
        ("吹塑机", "blow moulders"),
    ),
    "die_casting": _spec(
        ["aluminium_adc12", "aluminium", "zinc_alloy", "magnesium"],
        [(300, 300, 200), (600, 500, 400), (1000, 800, 600)],
        [0.05, 0.1],
        [3.2, 6.3],
        [500, 1000, 3000],
        [None],
        (200, 500),
        ("压铸机", "die-casting cells"),
        (8, 120),
    ),
    "sand_casting": _spec(
        ["cast_iron", "steel", "copper", "aluminium"],
        [(1000, 1000, 800), (3000, 2000, 1500)],
        [1.0, 2.0],
        [12.5],
        [10, 50],
        [None],
        (60, 150),
        ("造型线", "moulding lines"),
        (8, 100),
    ),
    "investment_casting": _spec(
        [*STAINLESS, "steel", "steel_40cr", "copper"],
        [(300, 300, 300), (600, 500, 400)],
        [0.1, 0.2],
        [3.2, 6.3],
        [50, 100],
        [None],
        (100, 250),
        ("制壳线", "shell lines"),
    ),
    "metal_3d_printing": _spec(
        ["titanium", "stainless_316", "aluminium", "tool_steel"],
        [(250, 250, 300), (400, 400, 400)],
        [0.05, 0.1],
        [6.3],
        [1],
        [50, 200],
        (300, 800),
        ("金属3D打印机", "metal 3D printers"),
        (6, 80),
    ),
    "additive_manufacturing": _spec(
        ["abs", "pa66", "pc", "plastic"],
        [(300, 300, 300), (600, 600, 600)],
        [0.1, 0.2],
        [6.3, 12.5],
        [1],
        [200, 1000],
        (60, 200),
        ("工业3D打印机", "industrial 3D printers"),
        (2, 40),
    ),
    "mig_mag_welding": _spec(
        ["steel", "steel_q235", "stainless"],
        [(3000, 2000, 1500), (8000, 3000, 3000), None],
        [0.5, 1.0],
        [None],
        [1],
        [None],
        (60, 140),
        ("二保焊机", "MIG/MAG stations"),
        (4, 80),
    ),
    "tig_welding": _spec(
        ["stainless", "aluminium", "titanium", "copper"],
        [(2000, 1500, 1000), None],
        [0.2, 0.5],
        [None],
        [1],
        [None],
        (80, 160),
        ("氩弧焊机", "TIG stations"),
    ),
    "spot_welding": _spec(
        ["steel", "steel_q235", "stainless_304"],
        [(1500, 1000, 500), (2500, 1500, 800)],
        [0.2, 0.5],
        [None],
        [500, 1000],
        [None],
        (80, 180),
        ("点焊机", "spot welders"),
    ),
    "robotic_welding": _spec(
        ["steel", "steel_q235", "stainless", "aluminium"],
        [(2000, 1500, 1000), (4000, 2000, 1500)],
        [0.2, 0.5],
        [None],
        [100, 500],
        [None],
        (120, 260),
        ("焊接机器人", "welding robots"),
        (8, 100),
    ),
    "laser_welding": _spec(
        ["stainless", "aluminium", "titanium", "copper"],
        [(600, 400, 300), (1200, 800, 500)],
        [0.05, 0.1],
        [None],
        [1, 100],
        [None],
        (150, 320),
        ("激光焊接机", "laser welders"),
    ),
    "riveting": _spec(
        ["steel", "aluminium", "stainless"],
        [(1500, 1000, 500)],
        [0.2],
        [None],
        [100],
        [None],
        (50, 100),
        ("压铆机", "clinching presses"),
        (2, 30),
    ),
    "assembly": _spec(
        ["plastic", "steel", "aluminium", "copper"],
        [(800, 600, 600), (2000, 1500, 1500), None],
        [None],
        [None],
        [100, 500],
        [None],
        (40, 90),
        ("装配线", "assembly lines"),
        (8, 120),
    ),
    "adhesive_bonding": _spec(
        ["plastic", "aluminium", "stainless"],
        [(600, 400, 300)],
        [None],
        [None],
        [100],
        [None],
        (40, 90),
        ("点胶机", "dispensing cells"),
        (4, 60),
    ),
    "anodizing": _spec(
        ["aluminium", "aluminium_6061", "aluminium_7075"],
        [(2000, 800, 1200), (6500, 600, 1500)],
        [None],
        [1.6, 3.2],
        [1, 50],
        [None],
        (60, 150),
        ("氧化线", "anodising lines"),
        (2, 40),
    ),
    "electroplating": _spec(
        ["steel", "copper", "zinc_alloy", "stainless"],
        [(1500, 800, 1200), (2500, 1000, 1500)],
        [None],
        [None],
        [100, 500],
        [None],
        (60, 140),
        ("电镀线", "plating lines"),
        (4, 60),
    ),
    "powder_coating": _spec(
        ["steel", "aluminium", "steel_q235"],
        [(2500, 1200, 2000), (6000, 1500, 2500)],
        [None],
        [None],
        [10, 50],
        [None],
        (50, 120),
        ("喷粉线", "powder lines"),
        (4, 60),
    ),
    "painting": _spec(
        ["steel", "aluminium", "plastic"],
        [(3000, 2000, 2000), (8000, 3000, 3000)],
        [None],
        [None],
        [10, 50],
        [None],
        (50, 120),
        ("喷漆房", "paint booths"),
        (4, 60),
    ),
    "hot_dip_galvanizing": _spec(
        ["steel", "steel_q235"],
        [(8000, 1500, 2500), (13000, 2000, 3000)],
        [None],
        [None],
        [100],
        [None],
        (60, 130),
        ("热镀锌线", "galvanising kettles"),
        (8, 80),
    ),
    "e_coating": _spec(
        ["steel", "aluminium"],
        [(3000, 1500, 1500), (5000, 2000, 2000)],
        [None],
        [None],
        [500],
        [None],
        (80, 180),
        ("电泳线", "e-coat lines"),
        (8, 100),
    ),
    "hardening": _spec(
        ["steel_45", "steel_40cr", "tool_steel", "steel"],
        [(800, 800, 1200), (1200, 1200, 2000)],
        [None],
        [None],
        [10, 100],
        [None],
        (60, 150),
        ("淬火炉", "hardening furnaces"),
        (8, 80),
    ),
    "carburizing": _spec(
        ["steel", "steel_40cr"],
        [(600, 600, 900), (1000, 1000, 1500)],
        [None],
        [None],
        [50, 100],
        [None],
        (80, 180),
        ("渗碳炉", "carburising furnaces"),
        (12, 120),
    ),
    "nitriding": _spec(
        ["steel_40cr", "tool_steel", "steel", "stainless"],
        [(600, 600, 1000), (1000, 1000, 2000)],
        [None],
        [None],
        [10, 50],
        [None],
        (80, 180),
        ("氮化炉", "nitriding furnaces"),
        (12, 120),
    ),
    "annealing": _spec(
        ["steel", "cast_iron", "stainless", "copper", "aluminium"],
        [(1500, 1500, 1500), (3000, 2000, 2000)],
        [None],
        [None],
        [1, 10],
        [None],
        (40, 100),
        ("退火炉", "annealing furnaces"),
        (8, 80),
    ),
    "vacuum_heat_treatment": _spec(
        ["tool_steel", "titanium", "stainless", "steel_40cr"],
        [(600, 600, 900), (900, 900, 1200)],
        [None],
        [None],
        [1, 10],
        [None],
        (120, 300),
        ("真空炉", "vacuum furnaces"),
        (8, 80),
    ),
}

PARTS = [
    ("外壳", "housing"),
    ("支架", "bracket"),
    ("法兰", "flange"),
    ("传动轴", "shaft"),
    ("端盖", "end cover"),
    ("底座", "base plate"),
    ("阀体", "valve body"),
    ("散热器", "heat sink"),
    ("面板", "panel"),
    ("机箱", "enclosure"),
    ("连接件", "connector"),
    ("齿轮", "gear"),
    ("夹具", "fixture"),
    ("导轨", "guide rail"),
]
BRANDS = [
    ("恒达", "Hengda"),
    ("鑫源", "Xinyuan"),
    ("精工", "Jinggong"),
    ("华瑞", "Huarui"),
    ("永盛", "Yongsheng"),
    ("宏达", "Hongda"),
    ("力拓", "Lituo"),
    ("博远", "Boyuan"),
    ("金泰", "Jintai"),
    ("瑞丰", "Ruifeng"),
    ("东升", "Dongsheng"),
    ("联创", "Lianchuang"),
    ("天成", "Tiancheng"),
    ("新锐", "Xinrui"),
    ("众诚", "Zhongcheng"),
    ("嘉禾", "Jiahe"),
    ("通达", "Tongda"),
    ("兴业", "Xingye"),
    ("明辉", "Minghui"),
    ("德信", "Dexin"),
    ("万丰", "Wanfeng"),
    ("海宁", "Haining"),
    ("正泰", "Zhengtai"),
    ("盛世", "Shengshi"),
    ("中联", "Zhonglian"),
    ("亿利", "Yili"),
    ("凯达", "Kaida"),
    ("欧铭", "Ouming"),
    ("诺科", "Nuoke"),
    ("锦程", "Jincheng"),
]

# Shared float objects for free hours (0, 0.5, … 300 h): 28 values per capability cost pointers, not floats.
_HALF_HOURS = [i / 2 for i in range(601)]


def _rng(seed: int, kind: int, i: int) -> random.Random:
    return random.Random((seed * 1_000_003 + kind) * 10_000_019 + i)


def _weighted(rng: random.Random, pairs: list[tuple[str, float]] | dict[str, float]) -> str:
    items = list(pairs.items()) if isinstance(pairs, dict) else pairs
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


@cache
def _words(code: str) -> tuple[str, list[str], str, list[str]]:
    """(zh name, Chinese aliases, en name, English aliases) of a process or material."""
    term = taxonomy().processes.get(code) or taxonomy().materials[code]
    zh = [a for a in term.aliases if any("\u4e00" <= ch <= "\u9fff" for ch in a) and len(a) > 1]
    en = [a for a in term.aliases if a.isascii() and len(a) > 3]
    return term.zh, zh, term.en.lower(), en


def _zh_word(rng: random.Random, code: str) -> str:
    """A Chinese way of writing a process or material (its name most often, sometimes an alias)."""
    name, aliases, _, _ = _words(code)
    return rng.choice(aliases) if aliases and rng.random() < 0.35 else name


def _en_word(rng: random.Random, code: str) -> str:
    _, _, name, aliases = _words(code)
    return rng.choice(aliases) if aliases and rng.random() < 0.3 else name


# Day-to-day utilisation swings (±15 points): 64 fixed patterns, one picked per capability.
_SWINGS = [tuple(random.Random(k).uniform(-0.15, 0.15) for _ in range(HORIZON_DAYS)) for k in range(64)]


def _calendar(rng: random.Random, machines: int, shift_hours: tuple[float, ...]) -> tuple[float, ...]:
    """Free hours per day for 28 days: machines × shift hours × (1 − that day's utilisation)."""
    base = rng.randrange(55, 96)  # mean utilisation, %
    booked = rng.choice((0, 0, 0, 2, 5, 9))  # the first days already fully booked
    return _calendar_of(machines, base, booked, rng.randrange(64), shift_hours)


@lru_cache(maxsize=1 << 16)
def _calendar_of(
    machines: int, base: int, booked: int, swing: int, shift_hours: tuple[float, ...]
) -> tuple[float, ...]:
    half, days = _HALF_HOURS, _SWINGS[swing]
    return (0.0,) * booked + tuple(
        half[min(600, int(machines * shift_hours[d] * (1.0 - min(1.0, max(0.0, base / 100 + days[d]))) * 2))]
        for d in range(booked, HORIZON_DAYS)
    )


def _certifications(rng: random.Random, cluster: dict) -> frozenset[str]:
    rates = {**BASE_CERTS, **cluster["certs"]}
    certs = {c for c, p in rates.items() if rng.random() < p}
    if "iatf_16949" in certs or "as9100" in certs or "iso_13485" in certs:
        certs.add("iso_9001")  # the sector standards build on ISO 9001
    if "nadcap" in certs and "as9100" not in certs:
        certs.discard("nadcap")
    return frozenset(certs)


def _capability(rng: random.Random, process: str, eid: int, j: int, shift_hours: tuple[float, ...]) -> Capability:
    spec = SPECS[process]
    k = min(len(spec.materials), rng.choice((1, 2, 2, 3, 3, 4)))
    materials = tuple(sorted(rng.sample(spec.materials, k)))
    machines = rng.choice((1, 1, 2, 2, 3, 4, 6))
    bmin = rng.choice(spec.batch_min)
    bmax = rng.choice(spec.batch_max)
    price = rng.randint(*spec.price) // 5 * 5
    env = rng.choice(spec.envelopes)
    return Capability(
        process=process,
        materials=materials,
        envelope_mm=None if env is None else (float(env[0]), float(env[1]), float(env[2])),
        tolerance_mm=rng.choice(spec.tolerances),
        finish_ra_um=rng.choice(spec.finishes),
        batch_min=bmin,
        batch_max=None if bmax is None else max(bmax, bmin),
        price_per_hour=None if rng.random() < 0.08 else Decimal(price),
        free_hours=_calendar(rng, machines, shift_hours),
        machine_ids=tuple(eid * 100 + j * 10 + m for m in range(machines)),
    )


def _describe(
    rng: random.Random,
    name_zh: str,
    name_en: str,
    region: tuple,
    caps: list[Capability],
    certs: frozenset[str],
    industries: list[str],
) -> tuple[str, str]:
    tax = taxonomy()
    year = rng.randint(1992, 2021)
    procs_zh = "、".join(_zh_word(rng, c.process) for c in caps)
    procs_en = ", ".join(_en_word(rng, c.process) for c in caps)
    mats = list(dict.fromkeys(m for c in caps for m in c.materials))[:5]
    mats_zh = "、".join(_zh_word(rng, m) for m in mats)
    mats_en = ", ".join(_en_word(rng, m) for m in mats)
    lead = caps[0]
    mz, me = SPECS[lead.process].machine
    n_machines = len(lead.machine_ids) + rng.randint(0, 12)
    sectors = rng.sample(industries, min(len(industries), rng.choice((1, 2, 2, 3))))
    sec_zh = "、".join(INDUSTRIES[s][0] for s in sectors)
    sec_en = ", ".join(INDUSTRIES[s][1] for s in sectors)
    cert_names = [tax.certifications[c].name for c in sorted(certs)]
    tol = min((c.tolerance_mm for c in caps if c.tolerance_mm is not None), default=None)
    opener = rng.choice(("专业从事", "专注于", "主营", "提供"))
    zh = (
        f"{name_zh}成立于{year}年，位于{region[0]}，{opener}{procs_zh}，主要材料为{mats_zh}。"
        f"拥有{mz}{n_machines}台"
        + (f"，精度可达±{tol:g}mm" if tol is not None else "")
        + "。"
        + (f"通过{'、'.join(cert_names)}认证，" if cert_names else "")
        + f"服务{sec_zh}等行业客户。"
    )
    en = (
        f"{name_en}, {region[1]}, since {year}: {procs_en} of {mats_en} parts. {n_machines} {me}"
        + (f", tolerances to ±{tol:g} mm" if tol is not None else "")
        + ". "
        + (f"Certified to {', '.join(cert_names)}. " if cert_names else "")
        + f"Serving {sec_en} customers."
    )
    return zh, en


def generate_network(n: int, seed: int = 0, *, start_weekday: int = 0) -> list[SupplierProfile]:
    """``n`` supplier profiles (enterprise ids 1 … n), deterministic for ``seed``.

    ``start_weekday`` is the weekday of day 0 of the free-hours calendars (0 = Monday).
    """
    regions = [(r, sum(r[4].values())) for r in REGIONS]
    # two 8-hour shifts a day, one on Sundays
    shift_hours = tuple(8.0 if (start_weekday + d) % 7 == 6 else 16.0 for d in range(HORIZON_DAYS))
    out: list[SupplierProfile] = []
    for i in range(n):
        eid = i + 1
        rng = _rng(seed, 1, i)
        region = rng.choices([r for r, _ in regions], weights=[w for _, w in regions])[0]
        cluster_name = _weighted(rng, region[4])
        cluster = CLUSTERS[cluster_name]
        k = rng.choice((1, 2, 2, 3, 3, 3, 4, 4))
        processes: list[str] = []
        while len(processes) < min(k, len(cluster["processes"])):
            p = _weighted(rng, cluster["processes"])
            if p not in processes:
                processes.append(p)
        caps = [_capability(rng, p, eid, j, shift_hours) for j, p in enumerate(processes)]
        brand = rng.choice(BRANDS)
        sfx_zh, sfx_en = cluster["suffix"]
        name_zh = f"{region[0]}{brand[0]}{sfx_zh}有限公司"
        name_en = f"{region[1]} {brand[1]} {sfx_en} Co., Ltd."
        certs = _certifications(rng, cluster)
        zh, en = _describe(rng, name_zh, name_en, region, caps, certs, cluster["industries"])
        if rng.random() < 0.7:
            orders = rng.randint(3, 40)
            on_time = sum(rng.random() < 0.9 for _ in range(orders))
            accepted = rng.uniform(0.9, 1.0)
            reputation = round(0.5 * on_time / orders + 0.5 * accepted, 4)
            basis = f"on time {on_time}/{orders}, accepted {accepted:.0%} (last 90 days)"
        else:
            reputation, basis = None, "no delivered orders yet"
        out.append(
            SupplierProfile(
                enterprise_id=eid,
                name=name_zh,
                region=region[0],
                lat=round(region[2] + rng.gauss(0, 0.12), 5),
                lon=round(region[3] + rng.gauss(0, 0.12), 5),
                description_zh=zh,
                description_en=en,
                certifications=certs,
                reputation=reputation,
                reputation_basis=basis,
                capabilities=tuple(caps),
            )
        )
    return out


def generate_demands(n: int, seed: int = 0) -> list[Demand]:
    """``n`` part RFQs as buyers post them (zh or en text), deterministic for ``seed``; most can be served
    by a network from :func:`generate_network`, some ask for more than it offers."""
    tax = taxonomy()
    regions = [(r, sum(r[4].values())) for r in REGIONS]
    cluster_weight = {c: 0.0 for c in CLUSTERS}
    for r in REGIONS:
        for c, w in r[4].items():
            cluster_weight[c] += w
    out: list[Demand] = []
    for j in range(n):
        rng = _rng(seed, 2, j)
        cluster = CLUSTERS[_weighted(rng, cluster_weight)]
        process = _weighted(rng, cluster["processes"])
        spec = SPECS[process]
        if tax.processes[process].parent and rng.random() < 0.3:
            process = tax.processes[process].parent  # buyers often ask for the general process
        material = rng.choice(spec.materials) if rng.random() < 0.85 else None
        bmin = rng.choice(spec.batch_min)
        quantity = max(bmin, int(bmin * rng.choice((1, 2, 5, 10, 20))))
        envelope = None
        if rng.random() < 0.6:
            env = rng.choice([e for e in spec.envelopes if e is not None] or [(500.0, 400.0, 300.0)])
            envelope = tuple(float(max(1, round(x * rng.uniform(0.2, 0.9)))) for x in env)
        tolerances = [t for t in spec.tolerances if t is not None]
        tolerance = (
            round(rng.choice(tolerances) * rng.choice((1, 1, 2, 3)), 3) if tolerances and rng.random() < 0.5 else None
        )
        finishes = [f for f in spec.finishes if f is not None]
        finish = rng.choice(finishes) * rng.choice((1, 2)) if finishes and rng.random() < 0.3 else None
        certs: set[str] = set()
        r = rng.random()
        if r < 0.25:
            certs.add("iso_9001")
        elif r < 0.32 and "iatf_16949" in cluster["certs"]:
            certs.add("iatf_16949")
        elif r < 0.36 and "as9100" in cluster["certs"]:
            certs.add("as9100")
        hours = float(rng.randint(*spec.hours))
        due_day = rng.randint(5, 35)
        price = (spec.price[0] + spec.price[1]) / 2
        budget = Decimal(round(hours * price * rng.uniform(0.8, 1.8), -2) or 100) if rng.random() < 0.6 else None
        region = rng.choices([x for x, _ in regions], weights=[w for _, w in regions])[0]
        located = rng.random() < 0.85
        part = rng.choice(PARTS)
        if rng.random() < 0.6:
            how = _zh_word(rng, process)
            words = [
                f"求购{_zh_word(rng, material) if material else ''}{part[0]}",
                how if how.endswith(("加工", "工艺")) else f"{how}加工",
                f"数量{quantity}件",
            ]
            if tolerance is not None:
                words.append(f"公差±{tolerance:g}mm")
            if finish is not None:
                words.append(f"表面粗糙度Ra{finish:g}")
            if certs:
                words.append("需" + "、".join(tax.certifications[c].name for c in sorted(certs)) + "认证")
            words.append(f"{due_day}天内交货" + (f"，送货到{region[0]}" if located else ""))
            text = "，".join(words) + "。"
        else:
            words = [
                f"RFQ: {quantity} pcs {part[1]}" + (f" in {_en_word(rng, material)}" if material else ""),
                f"{_en_word(rng, process)}",
            ]
            if tolerance is not None:
                words.append(f"tolerance ±{tolerance:g} mm")
            if finish is not None:
                words.append(f"Ra {finish:g}")
            if certs:
                words.append(" and ".join(tax.certifications[c].name for c in sorted(certs)) + " required")
            words.append(f"delivery within {due_day} days" + (f" to {region[1]}" if located else ""))
            text = ", ".join(words) + "."
        out.append(
            Demand(
                process=process,
                material=material,
                quantity=quantity,
                envelope_mm=envelope,  # type: ignore[arg-type]
                tolerance_mm=tolerance,
                finish_ra_um=finish,
                certifications=frozenset(certs),
                due_day=due_day,
                hours=hours,
                budget=budget,
                lat=round(region[2] + rng.gauss(0, 0.05), 4) if located else None,
                lon=round(region[3] + rng.gauss(0, 0.05), 4) if located else None,
                text=text,
            )
        )
    return out
