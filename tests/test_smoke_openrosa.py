from . import factories


def test_a_valid_submission_is_acknowledged_with_central_message(collect, store, project):
    reply = collect.submit(factories.community(), {"1732262400123.jpg": b"\xff\xd8jpeg"})
    assert reply.status == 201, reply.text
    assert "full submission upload was successful!" in reply.text
    form = store.get_form(project["id"], "ppa_community")
    assert store.count_submissions(form["id"]) == 1
