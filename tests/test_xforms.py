"""Unit tests of server/xforms.py: reading XForms, reading (possibly hostile) submissions, extraction."""

from __future__ import annotations

import hashlib

import pytest

from server import errors
from server.xforms import extract, md5_hash, parse_submission, parse_untrusted, parse_xform

from . import factories
from .helpers import COMMUNITY_XML, DATA, move_instance_id_to_root, variant

SAMPLE = (DATA / "sample_submission.xml").read_bytes()
ENVELOPE = (DATA / "encrypted_sample" / "envelope.xml").read_bytes()


@pytest.fixture(scope="module")
def form():
    return parse_xform(COMMUNITY_XML)


def _xform(instance: str, binds: str = "", body: str = "", model: str = "") -> bytes:
    """A minimal XForm around a primary instance body."""
    return (f'<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
            f'xmlns:jr="http://openrosa.org/javarosa" xmlns:odk="http://www.opendatakit.org/xforms">'
            f"<h:head><h:title>Small</h:title><model><instance><data id=\"small\" version=\"3\">{instance}"
            f"<meta><instanceID/></meta></data></instance>{model}{binds}</model></h:head>"
            f"<h:body>{body}</h:body></h:html>").encode()


def _problem(call) -> errors.Problem:
    with pytest.raises(errors.Problem) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------- parse_xform

def test_parse_xform_reads_id_version_title_and_root(form):
    assert (form.form_id, form.version, form.title, form.root_name) == (
        "ppa_community", "2024112201", "PPA Community Profile", "data")
    assert not form.encrypted


def test_parse_xform_reads_field_types(form):
    types = {f.name: f.type for f in form.fields}
    assert types["participants"] == "int"
    assert types["wg_share"] == "decimal"
    assert types["location"] == "geopoint"
    assert types["photo"] == "binary"
    assert types["audit"] == "binary"
    assert types["start"] == "dateTime"
    assert types["priorities"] == "odk:rank"
    assert types["consent"] == "select1"
    assert types["group_name"] == "string"


def test_parse_xform_reads_static_choices(form):
    assert form.field("consent").choices == frozenset({"yes", "no"})
    assert form.field("priorities").choices == frozenset({"water", "roads", "health", "school"})


def test_parse_xform_reads_csv_backed_choices(form):
    village = form.field("village")
    assert (village.choice_list, village.choice_column, village.choices) == ("villages.csv", "name", None)


def test_parse_xform_reads_required_relevant_and_calculate(form):
    assert form.field("village").required and not form.field("village").conditional
    assert form.field("photo").conditional and not form.field("photo").required
    assert form.field("instanceName").calculate
    assert not form.field("location").required


def test_parse_xform_reads_labels(form):
    assert form.field("participants").label == "Number of participants"


def test_parse_xform_reads_a_repeat_once_despite_its_template(form):
    assert form.repeats == ["/data/wealth_group"]
    in_repeat = [f.name for f in form.fields if f.repeat == "/data/wealth_group"]
    assert in_repeat == ["wg_name", "wg_share"]
    assert form.repeat_key("/data/wealth_group") == "wealth_group"


def test_parse_xform_lists_expected_media(form):
    assert form.media == ["villages.csv"]


def test_parse_xform_sees_the_encryption_key():
    key = (DATA / "test_public_b64.txt").read_text().strip()
    assert parse_xform(variant(public_key=key)).encrypted


def test_parse_xform_media_from_itext_images_itemsets_and_search():
    model = ('<itext><translation lang="en"><text id="q:label"><value>Q</value>'
             '<value form="image">jr://images/map.png</value></text></translation></itext>'
             '<instance id="hh" src="jr://file/households.xml"/>')
    body = ('<input ref="/data/q" query="instance(\'x\')/root/item"><label ref="jr:itext(\'q:label\')"/></input>'
            '<select1 ref="/data/s" appearance="search(\'shops\')"><label>S</label><item><label>A</label>'
            '<value>a</value></item></select1>')
    parsed = parse_xform(_xform("<q/><s/>", body=body, model=model))
    assert parsed.media == ["households.xml", "itemsets.csv", "map.png", "shops.csv"]
    assert parsed.field("q").label == "Q"


def test_parse_xform_keys_duplicate_names_by_path():
    parsed = parse_xform(_xform("<g1><name/></g1><g2><name/></g2><age/>"))
    keys = {f.path: f.key for f in parsed.fields}
    assert keys["/data/g1/name"] == "g1__name" and keys["/data/g2/name"] == "g2__name"
    assert keys["/data/age"] == "age"


def test_parse_xform_nested_repeats():
    parsed = parse_xform(_xform("<hh><member><age/></member></hh>",
                                binds='<bind nodeset="/data/hh/member/age" type="int"/>',
                                body='<repeat nodeset="/data/hh"><repeat nodeset="/data/hh/member">'
                                     '<input ref="/data/hh/member/age"/></repeat></repeat>'))
    assert parsed.repeats == ["/data/hh", "/data/hh/member"]
    assert parsed.field("age").repeat == "/data/hh/member" and parsed.field("age").type == "int"


def test_parse_xform_refuses_a_document_that_is_not_an_xform():
    with pytest.raises(ValueError):
        parse_xform(b"<data id='x'/>")


def test_parse_xform_refuses_a_primary_instance_without_id():
    with pytest.raises(ValueError):
        parse_xform(_xform("<a/>").replace(b'id="small" ', b""))


def test_md5_hash_is_collects_format():
    assert md5_hash(COMMUNITY_XML) == "md5:" + hashlib.md5(COMMUNITY_XML).hexdigest()
    assert md5_hash(b"") == "md5:d41d8cd98f00b204e9800998ecf8427e"


# --------------------------------------------------------------------------- parse_submission

def test_parse_submission_reads_the_collect_sample():
    parsed = parse_submission(SAMPLE)
    assert (parsed.form_id, parsed.version) == ("ppa_community", "2024112201")
    assert parsed.instance_id == "uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37"
    assert parsed.instance_name == "v001 - Women's group A & B"
    assert parsed.deprecated_id is None and not parsed.encrypted and parsed.envelope_files == []


def test_parse_submission_reads_deprecated_id():
    parsed = parse_submission(factories.community(instance_id="uuid:new", deprecated_id="uuid:old"))
    assert (parsed.instance_id, parsed.deprecated_id) == ("uuid:new", "uuid:old")


def test_parse_submission_without_version_gives_an_empty_version():
    xml = factories.instance("small", None, {"a": "1"}, instance_id="uuid:1")
    assert parse_submission(xml).version == ""


def test_parse_submission_reads_an_encrypted_envelope():
    parsed = parse_submission(ENVELOPE)
    assert parsed.encrypted and parsed.form_id == "ppa_community"
    assert parsed.instance_id == "uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37"
    assert parsed.envelope_files == ["1732262400123.jpg.enc", "audit.csv.enc", "submission.xml.enc"]
    assert parsed.instance_name is None


def test_parse_submission_refuses_an_envelope_without_encrypted_xml_file():
    envelope = ENVELOPE.replace(b"<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>", b"")
    assert _problem(lambda: parse_submission(envelope)).code == "400.2"


def test_parse_submission_refuses_an_envelope_without_instance_id():
    start, end = ENVELOPE.index(b"<orx:meta"), ENVELOPE.index(b"</orx:meta>") + len(b"</orx:meta>")
    problem = _problem(lambda: parse_submission(ENVELOPE[:start] + ENVELOPE[end:]))
    assert problem.code == "400.2" and "instanceID" in problem.message


def test_parse_submission_falls_back_to_a_root_level_instance_id():
    xml = move_instance_id_to_root(factories.community(instance_id="uuid:at-root"))
    assert parse_submission(xml).instance_id == "uuid:at-root"


def test_parse_submission_prefers_meta_instance_id_over_the_root():
    xml = factories.community(instance_id="uuid:in-meta")
    xml = xml.replace(b"</data>", b"<instanceID>uuid:root</instanceID></data>")
    assert parse_submission(xml).instance_id == "uuid:in-meta"


def test_parse_submission_reads_prefixed_meta_by_local_name():
    xml = (factories.community(instance_id="uuid:orx").replace(b"<meta>", b"<orx:meta>")
           .replace(b"</meta>", b"</orx:meta>").replace(b"instanceID>", b"orx:instanceID>"))
    assert parse_submission(xml).instance_id == "uuid:orx"


def test_parse_submission_without_form_id_is_400_2():
    problem = _problem(lambda: parse_submission(factories.community().replace(b'id="ppa_community" ', b"")))
    assert (problem.code, problem.message) == ("400.2", "Required parameter form ID xml attribute missing.")


def test_parse_submission_without_instance_id_is_400_2():
    xml = factories.community(instance_id="uuid:x").replace(b"<instanceID>uuid:x</instanceID>", b"")
    assert _problem(lambda: parse_submission(xml)).code == "400.2"


def test_parse_submission_refuses_an_instance_id_over_249_characters():
    assert parse_submission(factories.community(instance_id="u" * 249)).instance_id == "u" * 249
    assert "249" in _problem(lambda: parse_submission(factories.community(instance_id="u" * 250))).message


@pytest.mark.parametrize("prolog", [b'<!DOCTYPE data [<!ENTITY a "b">]>', b'<!doctype data SYSTEM "x.dtd">',
                                    b'<!ENTITY a "b">'])
def test_doctype_and_entities_are_refused_before_parsing(prolog):
    problem = _problem(lambda: parse_untrusted(b"<?xml version='1.0'?>" + prolog + b"<data id='x'>&a;</data>"))
    assert problem.code == "400.42"


def test_depth_limit_counts_the_root():
    nested = lambda depth: b"<a>" * depth + b"</a>" * depth  # noqa: E731
    assert parse_untrusted(nested(32), max_depth=32) is not None
    assert _problem(lambda: parse_untrusted(nested(33), max_depth=32)).code == "400.41"


@pytest.mark.parametrize("data", [b"", b"   ", b"<data>", b"<a></b>", b"not xml at all", b"\xff\xfe<\x00a\x00"])
def test_malformed_xml_is_400_2(data):
    assert _problem(lambda: parse_untrusted(data)).code == "400.2"


# --------------------------------------------------------------------------- extract

def test_extract_gives_answers_by_key_and_repeats_as_lists(form):
    extracted = extract(parse_submission(SAMPLE).root, form)
    record = extracted.record
    assert record["participants"] == "14" and record["group_name"] == "Women's group A & B"
    assert record["wealth_group"] == [{"wg_name": "Poorest", "wg_share": "40.0"},
                                      {"wg_name": "Better off", "wg_share": "15.5"}]
    assert record["instanceID"] == "uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37"
    assert extracted.unknown == []


def test_extract_lists_binary_answers(form):
    assert sorted(extract(parse_submission(SAMPLE).root, form).binaries) == ["1732262400123.jpg", "audit.csv"]


def test_extract_reports_elements_not_in_the_form(form):
    extracted = extract(parse_submission(factories.community(bribe="1", wealth_group=[{"wg_x": "2"}])).root, form)
    assert sorted(extracted.unknown) == ["/data/bribe", "/data/wealth_group/wg_x"]


def test_extract_ignores_undeclared_meta_children_and_a_root_instance_id(form):
    xml = move_instance_id_to_root(factories.community(deprecated_id="uuid:old", meta_extra={"entity": {"label": "x"}}))
    assert extract(parse_submission(xml).root, form).unknown == []
