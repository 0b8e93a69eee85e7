"""Submission XML built in code, in JavaRosa's serialisation (one line, no default namespace)."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

NS = ('xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
      'xmlns:odk="http://www.opendatakit.org/xforms" xmlns:h="http://www.w3.org/1999/xhtml"')


def new_instance_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def instance_id_of(xml: bytes) -> str:
    """The meta/instanceID of a submission built here."""
    return xml.split(b"<instanceID>", 1)[1].split(b"</instanceID>", 1)[0].decode()


def element(name: str, value) -> str:
    if isinstance(value, list):  # a repeat
        return "".join(f"<{name}>{''.join(element(k, v) for k, v in row.items())}</{name}>" for row in value)
    if isinstance(value, dict):  # a group
        return f"<{name}>{''.join(element(k, v) for k, v in value.items())}</{name}>"
    if value is None or value == "":
        return f"<{name}/>"
    return f"<{name}>{escape(str(value))}</{name}>"


def instance(form_id: str, version: str, answers: dict, instance_id: str | None = None,
             deprecated_id: str | None = None, instance_name: str | None = None, root: str = "data",
             meta_extra: dict | None = None) -> bytes:
    meta = dict(meta_extra or {})
    meta["instanceID"] = instance_id or new_instance_id()
    if instance_name:
        meta["instanceName"] = instance_name
    if deprecated_id:
        meta["deprecatedID"] = deprecated_id
    body = "".join(element(k, v) for k, v in answers.items()) + element("meta", meta)
    version_attr = f' version="{version}"' if version is not None else ""
    return (f"<?xml version='1.0' encoding='UTF-8' ?><{root} id=\"{form_id}\"{version_attr} {NS}>{body}</{root}>"
            ).encode("utf-8")


def community_answers(**overrides) -> dict:
    """A valid answer set for tests/data/ppa_community.xml (the JavaRosa-made test form)."""
    answers = {
        "start": "2026-11-22T05:31:56.172+05:30", "end": "2026-11-22T05:52:10.011+05:30",
        "deviceid": "collect:Xk3v9QpLm2Zt8RwA", "village": "v001", "group_name": "Women's group A & B",
        "participants": "14", "priorities": "health water school roads", "consent": "yes",
        "photo": "1732262400123.jpg", "location": "24.7 78.1 410.5 4.8",
        "wealth_group": [{"wg_name": "Poorest", "wg_share": "40.0"}, {"wg_name": "Better off", "wg_share": "15.5"}],
    }
    answers.update(overrides)
    return answers


def community(instance_id: str | None = None, deprecated_id: str | None = None, version: str = "2024112201",
              meta_extra: dict | None = None, **overrides) -> bytes:
    return instance("ppa_community", version, community_answers(**overrides), instance_id, deprecated_id,
                    instance_name="v001 - test", meta_extra=meta_extra)


def household_with_photo(form, rng, i: int, members: int, photo_every: int,
                         prefix: str) -> tuple[str, bytes, dict[str, bytes]]:
    """(instanceID, XML, {file name: bytes}) of a new household of the sample hamlet chanderi-w03, not on the list;
    every `photo_every`-th one (from the first) has a photo with bytes of its own."""
    import hashlib
    from pathlib import Path

    from bench import samples

    hh_id = f"chanderi-w03-{prefix}{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
    answers = samples.household_income(rng, hh_id, members=members, on_list=False, head=f"Head {i}")
    answers.update(node="chanderi-contract_weavers", district="Ashoknagar", state="Madhya Pradesh")
    files = {}
    if i % photo_every == 0:
        name = f"{1732262400000 + i}.jpg"
        answers.update(photo_consent="yes", photo=name)
        photo = (Path(__file__).parent / "data" / "1732262400123.jpg").read_bytes()
        files[name] = photo + hashlib.sha256(str(i).encode()).digest()
    instance_id = f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    return instance_id, samples.instance_xml(form, samples.fill(form, answers, rng), instance_id=instance_id), files
