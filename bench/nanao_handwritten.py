"""A plain hand-written converter of the Digital Agency evacuation-site layout (the benchmark's
upper bound): the same output as the bundled rule, written the way one would without a rule
engine. It shares no code with mappings/, on purpose."""

from __future__ import annotations

import re
import unicodedata

_nfkc = unicodedata.normalize
_DASH = re.compile(r"(?<=\d)[\-‐‑‒–—―−ー－ｰ](?=\d)")
_CAP = re.compile(r"屋内(\d[\d,]*)人/?屋外(\d[\d,]*)人(?:\((.*)\))?")
_TRUE = {"1", "1.0", "○", "◯", "有"}
_FALSE = {"", "×", "無"}
_HAZARDS = (
    ("災害種別_洪水", "flood"), ("災害種別_崖崩れ、土石流及び地滑り", "sediment_disaster"),
    ("災害種別_高潮", "storm_surge"), ("災害種別_地震", "earthquake"),
    ("災害種別_津波", "tsunami"), ("災害種別_大規模な火事", "large_fire"),
    ("災害種別_内水氾濫", "inland_flooding"), ("災害種別_火山現象", "volcano"),
)


class Bad(Exception):
    pass


def _text(value: str) -> str | None:
    if not value.isascii():
        value = _nfkc("NFKC", value)
    return " ".join(value.split()) or None


def _member(code: str, default: str) -> str:
    code = code.strip()
    if not code:
        return default
    if len(code) == 5:
        weighted = sum(int(d) * w for d, w in zip(code, (6, 5, 4, 3, 2), strict=True))
        code += str((11 - weighted % 11) % 10)
    return "jp-" + code


def convert(row: dict[str, str], member: str = "jp-172022") -> dict:
    entity = {
        "id": f"urn:ngsi-ld:EvacuationSite:{_member(row['所在地_全国地方公共団体コード'], member)}:"
              f"{row['ID'].strip()}",
        "type": "EvacuationSite",
    }
    names = {}
    for tag, col in (("ja", "名称"), ("ja-Kana", "名称_カナ"), ("ja-Latn", "名称_英字")):
        v = _text(row[col])
        if v:
            names[tag] = v
    if "ja" not in names:
        raise Bad("missing_required")
    entity["name"] = {"type": "LanguageProperty", "languageMap": names}
    address = {"addressCountry": "JP"}
    for key, col in (("addressRegion", "所在地_都道府県"), ("addressLocality", "所在地_市区町村")):
        v = _text(row[col])
        if v:
            address[key] = v
    street = row["所在地_連結表記"]
    if street:
        address["streetAddress"] = _text(_DASH.sub("-", _nfkc("NFKC", street)))
    entity["address"] = {"type": "Property", "value": address}
    lat, lon = float(row["緯度"]), float(row["経度"])
    if not (20.0 <= lat <= 46.0 and 122.0 <= lon <= 154.0):
        raise Bad("latitude_out_of_range")
    entity["location"] = {"type": "GeoProperty",
                          "value": {"type": "Point", "coordinates": [lon, lat]}}
    if row["標高"]:
        entity["elevation"] = {"type": "Property", "value": float(row["標高"]), "unitCode": "MTR"}
    tel = _text(row["電話番号"])
    if tel:
        entity["telephone"] = {"type": "Property", "value": tel}
    suitable, conditional = [], []
    for col, code in _HAZARDS:
        v = row.get(col, "")
        if v in _TRUE:
            suitable.append(code)
        elif v == "△":
            conditional.append(code)
        elif v not in _FALSE:
            raise Bad("flag_unrecognized")
    if suitable:
        entity["suitableFor"] = {"type": "Property", "value": suitable}
    if conditional:
        entity["conditionallySuitableFor"] = {"type": "Property", "value": conditional}
    cap = row["想定収容人数"]
    if cap:
        m = _CAP.fullmatch(_nfkc("NFKC", cap).strip())
        if not m:
            raise Bad("capacity_unparseable")
        indoor, outdoor = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
        entity["capacity"] = {"type": "Property", "value": indoor + outdoor, "unitCode": "IE"}
        entity["indoorCapacity"] = {"type": "Property", "value": indoor, "unitCode": "IE"}
        entity["outdoorCapacity"] = {"type": "Property", "value": outdoor, "unitCode": "IE"}
        if m.group(3):
            entity["capacityNote"] = {"type": "Property", "value": m.group(3)}
    served = _text(row["対象となる町会・自治会"])
    if served:
        entity["servedArea"] = {"type": "Property", "value": served}
    return entity
