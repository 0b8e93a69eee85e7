"""The OpenRosa contract with ODK Collect (docs/protocol.md sections 1-4 and 6), one test per edge case.

Tests taking the `collect` fixture run twice: through Flask's test client and over real HTTP.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from lxml import etree

from server.auth import new_token
from server.bootstrap import create_user

from . import factories
from .collect import COLLECT_UA, Collect, Part, multipart, submission_parts
from .helpers import (COMMUNITY_XML, DATA, SUCCESS, ResponseGuard, assert_openrosa_error, assert_success, counts,
                      message, move_instance_id_to_root, publish, variant)

LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
PHOTO = "1732262400123.jpg"
JPEG = (DATA / PHOTO).read_bytes()
AUDIT = (DATA / "audit.csv").read_bytes()
ENCRYPTED = DATA / "encrypted_sample"
PPA_FORMS = ("household_income", "well_being_ranking", "poverty_nodes")


@pytest.fixture(autouse=True)
def guard(app):
    """No 401 without a challenge, and no redirect of /submission, in any test of this file."""
    checker = ResponseGuard(app)
    yield checker
    assert checker.violations == []


def _form(store, project, form_id="ppa_community"):
    return store.get_form(project["id"], form_id)


def _submission(store, project, instance_id, form_id="ppa_community"):
    return store.get_submission(_form(store, project, form_id)["id"], instance_id)


def _files(store, submission) -> dict[str, bytes | None]:
    return {a["name"]: store.get_blob(a["blob_sha256"]) if a["blob_sha256"] else None
            for a in store.attachments(submission["def_id"])}


def _xforms(reply) -> list[dict]:
    root = etree.fromstring(reply.body)
    assert root.tag == f"{{{LIST_NS}}}xforms"
    items = []
    for xform in root:
        assert xform.tag == f"{{{LIST_NS}}}xform"
        fields = {}
        for child in xform:
            assert etree.QName(child).namespace == LIST_NS, child.tag
            fields[etree.QName(child).localname] = child.text or ""
        items.append(fields)
    return items


def _listed(collect, form_id="ppa_community", **kwargs) -> dict:
    return next(x for x in _xforms(collect.form_list(**kwargs)) if x["formID"] == form_id)


def _media_files(reply) -> list[etree._Element]:
    root = etree.fromstring(reply.body)
    assert root.tag == f"{{{MANIFEST_NS}}}manifest"
    return list(root)


def _assert_date(collect, reply) -> None:
    """Over HTTP the server sends exactly one Date (the test client has no server to add one)."""
    if isinstance(collect.transport, str):
        assert reply.header("Date") and reply.header("Date").count("GMT") == 1, reply.header("Date")


def _user_client(collect, token) -> Collect:
    """The same transport, at the named-user (Digest) prefix /v1/projects/<id>."""
    return Collect(collect.transport, collect.server_url.replace(f"/v1/key/{token}", "/v1"))


# --------------------------------------------------------------------------- 1. formList

def test_form_list_is_200_text_xml_with_openrosa_headers(collect):
    reply = collect.form_list()
    assert reply.status == 200
    assert "text/xml" in reply.header("Content-Type").lower()
    assert reply.header("X-OpenRosa-Version") == "1.0"
    _assert_date(collect, reply)


def test_form_list_elements_are_all_in_the_xformslist_namespace(collect):
    items = _xforms(collect.form_list())
    assert any(x["formID"] == "ppa_community" for x in items)
    for item in items:
        assert {"formID", "name", "version", "hash", "downloadUrl"} <= set(item)
        assert item["formID"] and item["name"] and item["downloadUrl"]


def test_form_list_hash_is_md5_of_the_bytes_served_at_download_url(collect):
    for item in _xforms(collect.form_list()):
        served = collect.get(item["downloadUrl"])
        assert served.status == 200
        assert item["hash"] == "md5:" + hashlib.md5(served.body).hexdigest()


def test_form_list_id_and_version_match_the_served_xml_root(collect):
    for item in _xforms(collect.form_list()):
        root = etree.fromstring(collect.get(item["downloadUrl"]).body)
        model = root.find("{http://www.w3.org/1999/xhtml}head/{http://www.w3.org/2002/xforms}model")
        primary = next(iter(model.find("{http://www.w3.org/2002/xforms}instance")))
        assert primary.get("id") == item["formID"]
        assert (primary.get("version") or "") == item["version"]


def test_form_list_urls_are_absolute_and_keep_the_token_prefix(collect, token):
    item = _listed(collect)
    prefix = collect.server_url + "/forms/"
    assert f"/v1/key/{token}/projects/" in prefix
    assert item["downloadUrl"] == prefix + "ppa_community.xml"
    assert item["manifestUrl"] == prefix + "ppa_community/manifest"


def test_form_list_has_manifest_url_only_for_forms_with_media(collect, store, project):
    publish(store, project["id"], variant(form_id="no_media", title="No media", inline_villages=True))
    assert "manifestUrl" in _listed(collect, "ppa_community")
    assert "manifestUrl" not in _listed(collect, "no_media")


def test_form_list_form_id_filter_is_exact(collect, store, project):
    publish(store, project["id"], variant(form_id="ppa_community_2", title="Second"))
    items = _xforms(collect.get("/formList?formID=ppa_community"))
    assert [x["formID"] for x in items] == ["ppa_community"]


def test_form_list_unknown_form_id_gives_an_empty_list(collect):
    reply = collect.get("/formList?formID=nope")
    assert reply.status == 200
    assert _xforms(reply) == []


def test_form_list_ignores_device_id(collect):
    with_device = _xforms(collect.form_list())
    without = _xforms(collect.form_list(add_device=False))
    assert with_device == without and with_device


@pytest.mark.parametrize("state", ["closing", "closed"])
def test_form_list_omits_closing_and_closed_forms(collect, store, project, state):
    store.set_form_state(_form(store, project)["id"], state)
    assert "ppa_community" not in [x["formID"] for x in _xforms(collect.form_list())]


def test_form_list_is_ordered_by_name(collect, store, project):
    publish(store, project["id"], variant(form_id="zz_first", title="Aardvark census"))
    publish(store, project["id"], variant(form_id="aa_last", title="Zebra census"))
    names = [x["name"] for x in _xforms(collect.form_list())]
    assert names == sorted(names)
    assert names[0] == "Aardvark census" and names[-1] == "Zebra census"


def test_form_list_without_openrosa_version_is_400_in_openrosa_xml(collect):
    reply = collect.form_list(openrosa=False)
    assert_openrosa_error(reply, 400, "X-OpenRosa-Version")


def test_form_list_with_another_openrosa_version_is_400(collect):
    assert_openrosa_error(collect.form_list(headers={"X-OpenRosa-Version": "2.0"}), 400)


def test_form_list_sends_content_language(collect):
    assert collect.form_list().header("Content-Language")


# --------------------------------------------------------------------------- 2. form download and manifest

def test_form_download_serves_the_exact_published_bytes(collect):
    assert collect.get("/forms/ppa_community.xml").body == COMMUNITY_XML


def test_form_download_has_etag_and_no_cache(collect):
    reply = collect.get("/forms/ppa_community.xml")
    assert reply.header("ETag")
    assert "no-cache" in reply.header("Cache-Control")
    assert "max-age" not in reply.header("Cache-Control")


def test_form_download_answers_if_none_match_with_304(collect):
    etag = collect.get("/forms/ppa_community.xml").header("ETag")
    reply = collect.get("/forms/ppa_community.xml", headers={"If-None-Match": etag})
    assert reply.status == 304
    assert reply.body == b""


def test_form_download_of_an_unknown_form_is_404(collect):
    assert collect.get("/forms/nope.xml").status == 404


def test_manifest_is_text_xml_in_the_manifest_namespace(collect):
    reply = collect.get("/forms/ppa_community/manifest")
    assert reply.status == 200
    assert "text/xml" in reply.header("Content-Type")
    assert reply.header("X-OpenRosa-Version") == "1.0"
    files = _media_files(reply)
    assert [f.findtext(f"{{{MANIFEST_NS}}}filename") for f in files] == ["villages.csv"]


def test_media_download_has_etag_no_cache_and_answers_304(collect):
    url = "/forms/ppa_community/attachments/villages.csv"
    reply = collect.get(url)
    assert reply.status == 200 and reply.body == (DATA / "villages.csv").read_bytes()
    assert "no-cache" in reply.header("Cache-Control") and reply.header("ETag")
    assert collect.get(url, headers={"If-None-Match": reply.header("ETag")}).status == 304


def test_media_download_of_an_unknown_file_is_404(collect):
    assert collect.get("/forms/ppa_community/attachments/other.csv").status == 404


def test_manifest_hashes_match_the_bytes_served(collect):
    for media in _media_files(collect.get("/forms/ppa_community/manifest")):
        assert media.tag == f"{{{MANIFEST_NS}}}mediaFile"
        assert media.get("type") is None
        fields = {etree.QName(c).localname: c.text for c in media}
        assert set(fields) == {"filename", "hash", "downloadUrl"}
        served = collect.get(fields["downloadUrl"])
        assert served.status == 200
        assert fields["hash"] == "md5:" + hashlib.md5(served.body).hexdigest()
    assert served.body == (DATA / "villages.csv").read_bytes()


def test_manifest_omits_expected_but_missing_files(collect, store, project):
    publish(store, project["id"], variant(version="2024112202"))  # a new version without villages.csv
    assert "manifestUrl" in _listed(collect)
    assert _media_files(collect.get("/forms/ppa_community/manifest")) == []


def test_manifest_without_openrosa_version_is_400(collect):
    assert_openrosa_error(collect.get("/forms/ppa_community/manifest", openrosa=False), 400)


def test_manifest_hashes_of_server_managed_lists_match_the_bytes_served(collect, store, project):
    present = [f for f in PPA_FORMS if _form(store, project, f) is not None]
    if not present:
        pytest.skip("forms/*.xml are not there")
    for form_id in present:
        media = _media_files(collect.get(f"/forms/{form_id}/manifest"))
        assert media, form_id
        for item in media:
            fields = {etree.QName(c).localname: c.text for c in item}
            served = collect.get(fields["downloadUrl"])
            assert served.status == 200, fields
            assert fields["hash"] == "md5:" + hashlib.md5(served.body).hexdigest()


# --------------------------------------------------------------------------- 3.2 HEAD pre-flight

@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_submission_probe_is_204_with_accept_content_length(collect, app, method):
    reply = collect.request(method, "/submission")
    assert reply.status == 204
    assert reply.body == b""
    assert reply.header("X-OpenRosa-Accept-Content-Length") == str(app.config["MAX_SUBMISSION_BYTES"])
    assert reply.header("X-OpenRosa-Version") == "1.0"
    _assert_date(collect, reply)


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_submission_probe_without_openrosa_version_is_400(collect, method):
    assert collect.request(method, "/submission", openrosa=False).status == 400


# --------------------------------------------------------------------------- 3.3-3.4 POST

def test_post_in_okhttp5_shape_is_201(collect):
    xml = factories.community()
    body, _ = multipart(submission_parts(xml, {PHOTO: JPEG}), okhttp=5)
    assert b"Content-Length" not in body
    assert_success(collect.submit(xml, {PHOTO: JPEG}))


def test_post_in_okhttp4_shape_is_201(collect):
    collect.okhttp = 4
    xml = factories.community()
    body, _ = multipart(submission_parts(xml, {PHOTO: JPEG}), okhttp=4)
    assert body.count(b"Content-Length: ") == 2
    assert_success(collect.submit(xml, {PHOTO: JPEG}))


def test_post_with_utf8_file_name_with_spaces_is_201(collect, store, project):
    xml = factories.community()
    reply = collect.post_parts([Part("xml_submission_file", xml, "Profil communauté ŞŁ_2026-11-22_10-15-00.xml",
                                     "text/xml"), Part(PHOTO, JPEG, PHOTO, "image/jpeg")])
    assert_success(reply)
    assert _submission(store, project, factories.instance_id_of(xml)) is not None


def test_post_with_xml_part_typed_application_xml_is_201(collect):
    reply = collect.post_parts([Part("xml_submission_file", factories.community(), "a.xml", "application/xml")])
    assert_success(reply)


def test_post_with_xml_as_plain_field_without_filename_is_201(collect, store, project):
    xml = factories.community()
    assert_success(collect.post_parts([Part("xml_submission_file", xml)]))
    submission = _submission(store, project, factories.instance_id_of(xml))
    assert store.submission_xml(submission["def_id"]) == xml


def test_post_success_body_is_central_message_and_201(collect):
    reply = collect.submit(factories.community(), {PHOTO: JPEG})
    assert reply.status == 201
    assert message(reply) == SUCCESS
    assert etree.fromstring(reply.body).tag == "{http://openrosa.org/http/response}OpenRosaResponse"


def test_post_stores_the_xml_verbatim_and_the_attachment(collect, store, project):
    xml = factories.community()
    collect.submit(xml, {PHOTO: JPEG})
    submission = _submission(store, project, factories.instance_id_of(xml))
    assert store.submission_xml(submission["def_id"]) == xml
    assert _files(store, submission) == {PHOTO: JPEG}


def test_attachments_are_matched_by_part_field_name(collect, store, project):
    xml = factories.community()
    assert_success(collect.post_parts([Part("xml_submission_file", xml, "a.xml", "text/xml"),
                                       Part(PHOTO, JPEG, "IMG_0001.jpg", "image/jpeg")]))
    assert _files(store, _submission(store, project, factories.instance_id_of(xml))) == {PHOTO: JPEG}


def test_attachments_fall_back_to_the_file_name(collect, store, project):
    xml = factories.community()
    assert_success(collect.post_parts([Part("xml_submission_file", xml, "a.xml", "text/xml"),
                                       Part("file1", JPEG, PHOTO, "image/jpeg")]))
    assert _files(store, _submission(store, project, factories.instance_id_of(xml))) == {PHOTO: JPEG}


def test_unknown_attachment_parts_are_ignored_and_not_stored(collect, store, project):
    xml = factories.community()
    assert_success(collect.submit(xml, {PHOTO: JPEG, "stray.jpg": b"not referenced", "notes.txt": b"hello"}))
    assert _files(store, _submission(store, project, factories.instance_id_of(xml))) == {PHOTO: JPEG}
    blobs = {bytes(r[0]) for r in store.db.execute("SELECT content FROM blobs")}
    assert b"not referenced" not in blobs and b"hello" not in blobs


def test_is_incomplete_changes_nothing(collect, store, project):
    xml = factories.community()
    assert_success(collect.submit(xml, {PHOTO: JPEG}, incomplete=True))
    submission = _submission(store, project, factories.instance_id_of(xml))
    assert submission["review_state"] == "received"
    assert _files(store, submission) == {PHOTO: JPEG}


def test_split_upload_ends_with_both_files_on_one_submission(collect, store, project):
    xml = factories.community(meta_extra={"audit": "audit.csv"})
    replies = collect.send_instance(xml, {PHOTO: JPEG, "audit.csv": AUDIT}, accept_length=len(xml) + len(JPEG) + 1)
    assert [r.status for r in replies] == [201, 201]
    assert all(message(r) == SUCCESS for r in replies)
    assert store.count_submissions(_form(store, project)["id"]) == 1
    assert _files(store, _submission(store, project, factories.instance_id_of(xml))) == {PHOTO: JPEG,
                                                                                       "audit.csv": AUDIT}


def test_split_upload_first_post_leaves_the_missing_slot_empty(collect, store, project):
    xml = factories.community(meta_extra={"audit": "audit.csv"})
    assert_success(collect.submit(xml, {PHOTO: JPEG}, incomplete=True))
    assert _files(store, _submission(store, project, factories.instance_id_of(xml))) == {PHOTO: JPEG,
                                                                                       "audit.csv": None}


def test_blind_retry_is_201_and_creates_no_second_row(collect, store, project):
    xml = factories.community()
    assert_success(collect.submit(xml, {PHOTO: JPEG}))
    before = counts(store)
    assert_success(collect.submit(xml, {PHOTO: JPEG}))
    assert counts(store) == before


def test_post_without_xml_submission_file_is_400(collect):
    reply = collect.post_parts([Part(PHOTO, JPEG, PHOTO, "image/jpeg")])
    assert_openrosa_error(reply, 400, "Required multipart POST field xml_submission_file missing.")


def test_post_that_is_not_multipart_is_400(collect):
    reply = collect.request("POST", "/submission", body=factories.community(), content_type="text/xml")
    assert_openrosa_error(reply, 400)


def test_post_without_openrosa_version_is_400(collect, store):
    reply = collect.post_parts(submission_parts(factories.community()), openrosa=False)
    assert_openrosa_error(reply, 400, "X-OpenRosa-Version")
    assert counts(store)["submissions"] == 0


def test_submission_is_never_redirected(collect):
    for path in ("/submission", "/submission/", "/submission?x=1"):
        for method in ("HEAD", "GET", "POST"):
            reply = collect.request(method, path)
            assert not 300 <= reply.status < 400, (method, path, reply.status)


def test_post_in_enketo_shape_is_201(collect, store, project):
    """Enketo: the XML part's filename is xml_submission_file, no *isIncomplete*, instance headers (3.6)."""
    xml = factories.community()
    instance_id = factories.instance_id_of(xml)
    reply = collect.post_parts([Part("xml_submission_file", xml, "xml_submission_file", "text/xml"),
                                Part(PHOTO, JPEG, PHOTO, "image/jpeg")],
                               headers={"X-OpenRosa-Instance-Id": instance_id, "X-OpenRosa-Deprecated-Id": "",
                                        "User-Agent": "Enketo/7.5.1 Mozilla/5.0"})
    assert_success(reply)
    assert _files(store, _submission(store, project, instance_id)) == {PHOTO: JPEG}


def test_device_id_and_user_agent_are_stored(collect, store, project):
    xml = factories.community()
    collect.submit(xml)
    submission = _submission(store, project, factories.instance_id_of(xml))
    assert submission["device_ref"] == collect.device_id
    assert submission["user_agent"] == COLLECT_UA


# --------------------------------------------------------------------------- 4. authentication

def _with_token(collect, project_id: int, token: str) -> Collect:
    base = collect.server_url.split("/v1/")[0]
    return Collect(collect.transport, f"{base}/v1/key/{token}/projects/{project_id}")


def _assert_403(client: Collect) -> None:
    for reply in (client.form_list(), client.head("/submission"),
                  client.submit(factories.community()), client.get("/forms/ppa_community.xml")):
        assert reply.status == 403, reply.status
        assert "text/xml" in reply.header("Content-Type")


def test_unknown_token_is_403(collect, project):
    _assert_403(_with_token(collect, project["id"], new_token()))


def test_malformed_token_is_403(collect, project):
    _assert_403(_with_token(collect, project["id"], "short!"))


def test_revoked_token_is_403(collect, store, project, token):
    store.revoke_device(store.device_by_token(token)["id"])
    _assert_403(collect)


def test_token_of_another_project_is_403(collect, store, project):
    other = store.create_project("Other project")
    foreign = new_token()
    store.create_device(other["id"], "Other phone", foreign, actor="test")
    _assert_403(_with_token(collect, project["id"], foreign))
    assert _with_token(collect, other["id"], foreign).form_list().status == 200


@pytest.mark.parametrize("method, path", [("GET", "/formList"), ("HEAD", "/submission"), ("POST", "/submission"),
                                          ("GET", "/forms/ppa_community.xml")])
def test_named_user_without_credentials_gets_a_digest_challenge(collect, token, method, path):
    reply = _user_client(collect, token).request(method, path)
    assert reply.status == 401
    challenge = reply.header("WWW-Authenticate")
    assert challenge.startswith("Digest ")
    for part in ('realm="', "nonce=", 'qop="auth"', "opaque=", "algorithm="):
        assert part in challenge, challenge


def _digest_user(app, store) -> tuple[str, str]:
    create_user(store, "ana@example.org", "admin", "correct horse battery", app.config["DIGEST_REALM"])
    return "ana@example.org", "correct horse battery"


def test_digest_challenge_completed_lists_forms(app, store, project, live):
    email, password = _digest_user(app, store)
    url = f"{live.url}/v1/projects/{project['id']}/formList"
    reply = requests.get(url, auth=requests.auth.HTTPDigestAuth(email, password),
                         headers={"X-OpenRosa-Version": "1.0"}, timeout=10)
    assert reply.status_code == 200
    assert f"{live.url}/v1/projects/{project['id']}/forms/ppa_community.xml" in reply.text


def test_digest_challenge_completed_accepts_a_submission(app, store, project, live):
    email, password = _digest_user(app, store)
    url = f"{live.url}/v1/projects/{project['id']}/submission"
    xml = factories.community()
    body, content_type = multipart(submission_parts(xml))
    reply = requests.post(url, data=body, auth=requests.auth.HTTPDigestAuth(email, password), timeout=10,
                          headers={"X-OpenRosa-Version": "1.0", "Content-Type": content_type})
    assert reply.status_code == 201, reply.text
    submission = _submission(store, project, factories.instance_id_of(xml))
    row = store.db.execute("SELECT user_id, device_id FROM submission_defs WHERE id = ?",
                           [submission["def_id"]]).fetchone()
    assert row == (store.user_by_email(email)["id"], None)


def test_digest_with_a_wrong_password_is_401_with_a_new_challenge(app, store, project, live):
    email, _ = _digest_user(app, store)
    url = f"{live.url}/v1/projects/{project['id']}/formList"
    reply = requests.get(url, auth=requests.auth.HTTPDigestAuth(email, "wrong password!"),
                         headers={"X-OpenRosa-Version": "1.0"}, timeout=10)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith("Digest ")


# --------------------------------------------------------------------------- 6.1 request pipeline

def test_submission_root_without_id_is_400(collect, store):
    xml = factories.community().replace(b'id="ppa_community" ', b"")
    assert_openrosa_error(collect.submit(xml), 400, "Required parameter form ID xml attribute missing.")
    assert counts(store)["submissions"] == 0


def test_unparseable_submission_xml_is_400(collect, store):
    assert_openrosa_error(collect.submit(b"<data id='ppa_community'><village>v001</data>"), 400)
    assert counts(store)["submissions"] == 0


def test_submission_for_an_unknown_form_is_404(collect):
    xml = factories.instance("nope", "1", {"a": "b"})
    assert_openrosa_error(collect.submit(xml), 404, "Could not find the resource you were looking for.")


def test_submission_for_an_unknown_version_is_404_6(collect):
    reply = collect.submit(factories.community(version="1999"))
    assert_openrosa_error(reply, 404, "The form version specified in this submission '1999' does not exist.")


def test_submission_for_an_older_published_version_is_accepted(collect, store, project):
    publish(store, project["id"], variant(version="2024112202"))
    assert _form(store, project)["current_def_id"] is not None
    assert_success(collect.submit(factories.community(version="2024112201")))
    assert_success(collect.submit(factories.community(version="2024112202")))
    assert store.count_submissions(_form(store, project)["id"]) == 2


def test_submission_to_a_closed_form_is_409_2(collect, store, project):
    store.set_form_state(_form(store, project)["id"], "closed")
    reply = collect.submit(factories.community())
    assert_openrosa_error(reply, 409, "This form is not currently accepting submissions. Please talk to your "
                                      "program staff if this is unexpected.")
    assert counts(store)["submissions"] == 0


def test_submission_to_a_closing_form_is_accepted(collect, store, project):
    store.set_form_state(_form(store, project)["id"], "closing")
    assert_success(collect.submit(factories.community()))


# --------------------------------------------------------------------------- 6.2 duplicates

def test_same_instance_id_with_different_xml_is_409_1(collect, store):
    instance_id = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=instance_id)))
    reply = collect.submit(factories.community(instance_id=instance_id, participants="15"))
    assert_openrosa_error(reply, 409, "A submission already exists with this ID, but with different XML.")
    assert counts(store)["submission_defs"] == 1


def test_instance_ids_are_unique_per_form_only(collect, store, project):
    publish(store, project["id"], variant(form_id="ppa_community_copy", title="Copy"))
    instance_id = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=instance_id)))
    copy = factories.community(instance_id=instance_id).replace(b'id="ppa_community"', b'id="ppa_community_copy"')
    assert_success(collect.submit(copy))
    assert counts(store)["submissions"] == 2


def test_concurrent_identical_posts_store_one_submission(project, token, store, live):
    phone = Collect(live.url, f"{live.url}/v1/key/{token}/projects/{project['id']}")
    xml = factories.community()
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda _: phone.submit(xml, {PHOTO: JPEG}), range(6)))
    assert [r.status for r in replies] == [201] * 6
    assert counts(store)["submissions"] == 1 and counts(store)["submission_defs"] == 1


def test_resubmitting_a_deleted_submission_is_409_18(collect, store, project):
    xml = factories.community()
    assert_success(collect.submit(xml))
    store.delete_submission(_submission(store, project, factories.instance_id_of(xml))["id"])
    assert_openrosa_error(collect.submit(xml), 409, "This submission has been deleted.")


# --------------------------------------------------------------------------- 6.4 edits

def test_edit_creates_a_new_version_of_the_same_submission(collect, store, project):
    first = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=first)))
    second = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=second, deprecated_id=first, participants="20")))
    submission = _submission(store, project, second)
    assert submission["review_state"] == "edited"
    assert submission["id"] == _submission(store, project, first)["id"]
    versions = store.submission_versions(submission["id"])
    assert [(v["instance_id"], v["is_current"]) for v in versions] == [(first, 0), (second, 1)]
    assert store.count_submissions(_form(store, project)["id"]) == 1


def test_edit_carries_attachments_over_by_name(collect, store, project):
    first = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=first, meta_extra={"audit": "audit.csv"}),
                                  {PHOTO: JPEG, "audit.csv": AUDIT}))
    second = factories.new_instance_id()
    new_audit = AUDIT + b"question,/data/participants,1,2\n"
    assert_success(collect.submit(factories.community(instance_id=second, deprecated_id=first,
                                                      meta_extra={"audit": "audit.csv"}), {"audit.csv": new_audit}))
    assert _files(store, _submission(store, project, second)) == {PHOTO: JPEG, "audit.csv": new_audit}


def test_edit_of_an_unknown_deprecated_id_is_404_5(collect, store):
    reply = collect.submit(factories.community(deprecated_id="uuid:never-seen"))
    assert_openrosa_error(reply, 404, "You tried to update an existing submission, but we can't find that "
                                      "submission to update (uuid:never-seen)")
    assert counts(store)["submissions"] == 0


def test_edit_of_an_out_of_date_version_is_409_9(collect, store):
    first, second = factories.new_instance_id(), factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=first)))
    assert_success(collect.submit(factories.community(instance_id=second, deprecated_id=first)))
    reply = collect.submit(factories.community(deprecated_id=first, participants="30"))
    assert_openrosa_error(reply, 409, f"the copy you were editing ({first}) is now out of date")
    assert counts(store)["submission_defs"] == 2


def test_edit_whose_new_instance_id_exists_is_409_3(collect, store):
    first, other = factories.new_instance_id(), factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=first)))
    assert_success(collect.submit(factories.community(instance_id=other)))
    reply = collect.submit(factories.community(instance_id=other, deprecated_id=first))
    assert_openrosa_error(reply, 409, f"A resource already exists with instanceID value(s) of {other}")


def test_resubmitting_the_deprecated_version_is_409(collect, store):
    first = factories.new_instance_id()
    original = factories.community(instance_id=first)
    assert_success(collect.submit(original))
    assert_success(collect.submit(factories.community(deprecated_id=first)))
    assert_openrosa_error(collect.submit(original), 409)
    assert counts(store)["submission_defs"] == 2


def test_edit_retried_identically_tops_up(collect, store, project):
    first = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=first)))
    edit = factories.community(deprecated_id=first)
    assert_success(collect.submit(edit))
    assert_success(collect.submit(edit, {PHOTO: JPEG}))
    assert _files(store, _submission(store, project, factories.instance_id_of(edit))) == {PHOTO: JPEG}
    assert counts(store)["submission_defs"] == 2


# --------------------------------------------------------------------------- 5.2 encrypted envelopes

def _envelope() -> bytes:
    return (ENCRYPTED / "envelope.xml").read_bytes()


def _enc(name: str) -> bytes:
    return (ENCRYPTED / name).read_bytes()


ENC_NAMES = ["1732262400123.jpg.enc", "audit.csv.enc", "submission.xml.enc"]


def test_encrypted_envelope_is_stored_as_received_with_expected_attachments(collect, store, project):
    reply = collect.submit(_envelope(), {name: _enc(name) for name in ENC_NAMES})
    assert_success(reply)
    submission = _submission(store, project, "uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37")
    assert store.submission_xml(submission["def_id"]) == _envelope()
    assert submission["encrypted"] == 1
    assert _files(store, submission) == {name: _enc(name) for name in ENC_NAMES}
    audit = {a["name"]: a["is_client_audit"] for a in store.attachments(submission["def_id"])}
    assert audit == {"1732262400123.jpg.enc": 0, "audit.csv.enc": 1, "submission.xml.enc": 0}


def test_encrypted_envelope_tops_up_enc_files(collect, store, project):
    assert_success(collect.submit(_envelope(), {"submission.xml.enc": _enc("submission.xml.enc")}, incomplete=True))
    submission = _submission(store, project, "uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37")
    assert sorted(n for n, v in _files(store, submission).items() if v is None) == ENC_NAMES[:2]
    assert_success(collect.submit(_envelope(), {n: _enc(n) for n in ENC_NAMES[:2]}))
    assert _files(store, submission) == {name: _enc(name) for name in ENC_NAMES}
    assert counts(store)["submissions"] == 1


def test_encrypted_envelope_without_instance_id_is_400(collect, store):
    envelope, before = _envelope(), counts(store)
    start, end = envelope.index(b"<orx:meta"), envelope.index(b"</orx:meta>") + len(b"</orx:meta>")
    reply = collect.submit(envelope[:start] + envelope[end:], {"submission.xml.enc": _enc("submission.xml.enc")})
    assert_openrosa_error(reply, 400, "instanceID")
    assert counts(store) == before


def test_encrypted_form_accepts_an_envelope(collect, store, project):
    key = (DATA / "test_public_b64.txt").read_text().strip()
    publish(store, project["id"], variant(version="2024112202", public_key=key))
    envelope = _envelope().replace(b'version="2024112201"', b'version="2024112202"')
    assert_success(collect.submit(envelope, {n: _enc(n) for n in ENC_NAMES}))


def test_encrypted_form_refuses_plain_data(collect, store, project):
    key = (DATA / "test_public_b64.txt").read_text().strip()
    publish(store, project["id"], variant(version="2024112202", public_key=key))
    assert_openrosa_error(collect.submit(factories.community(version="2024112202")), 400)
    assert counts(store)["submissions"] == 0


# --------------------------------------------------------------------------- 5.1 instance XML shapes

def test_meta_audit_is_marked_as_client_audit(collect, store, project):
    xml = factories.community(meta_extra={"audit": "audit.csv"})
    assert_success(collect.submit(xml, {PHOTO: JPEG, "audit.csv": AUDIT}))
    attachments = store.attachments(_submission(store, project, factories.instance_id_of(xml))["def_id"])
    assert {a["name"]: a["is_client_audit"] for a in attachments} == {PHOTO: 0, "audit.csv": 1}


def test_root_level_instance_id_is_accepted(collect, store, project):
    instance_id = factories.new_instance_id()
    xml = move_instance_id_to_root(factories.community(instance_id=instance_id))
    assert b"<meta><instanceID>" not in xml and xml.endswith(f"<instanceID>{instance_id}</instanceID></data>".encode())
    assert_success(collect.submit(xml))
    assert _submission(store, project, instance_id) is not None


def test_orx_prefixed_meta_is_accepted(collect, store, project):
    instance_id = factories.new_instance_id()
    xml = (factories.community(instance_id=instance_id, meta_extra={"audit": "audit.csv"})
           .replace(b"<meta>", b"<orx:meta>").replace(b"</meta>", b"</orx:meta>")
           .replace(b"<instanceID>", b"<orx:instanceID>").replace(b"</instanceID>", b"</orx:instanceID>")
           .replace(b"<audit>", b"<orx:audit>").replace(b"</audit>", b"</orx:audit>"))
    assert_success(collect.submit(xml, {"audit.csv": AUDIT}))
    submission = _submission(store, project, instance_id)
    assert submission["instance_name"] == "v001 - test"
    assert _files(store, submission) == {PHOTO: None, "audit.csv": AUDIT}
