"""Reviewing a submission: approve, mark as having issues or reject, with a comment, or comment alone. The one
implementation behind the review page (web.review) and Central's PATCH and comments routes (central.rest).

A state change and its comment are written together, and a submission that enters or leaves 'rejected' enters or
leaves the aggregates in the same transaction (a rejected submission counts nowhere); each action is audited.
"""

from __future__ import annotations

from . import aggregates, errors

REVIEW_ACTIONS = {"approved": "Approve", "hasIssues": "Has issues", "rejected": "Reject"}


def review(store, forms, project_id: int, sub: dict, state: str, comment: str, actor: str, via: str) -> None:
    """Set `state` (one of REVIEW_ACTIONS, or "" for a comment alone) on a submission the caller may review.
    sub: store.submission_by_id's row. 400 when there is neither a state nor a comment."""
    if state not in REVIEW_ACTIONS and not (state == "" and comment):
        raise errors.bad_request("choose approve, has issues or reject")
    submission_id = sub["id"]
    with store.transaction():
        if state:
            store.set_review_state(submission_id, state, actor, comment)
            if (state == "rejected") != (sub["review_state"] == "rejected"):
                record = None if state == "rejected" else aggregates.record_from_xml(
                    store, forms, sub["form_def_id"], store.submission_xml(sub["def_id"]))
                aggregates.refresh(store, project_id, sub["xml_form_id"], submission_id, record)
        else:
            store.add_comment(submission_id, actor, comment)
    store.audit(actor, "submission.review" if state else "submission.comment", f"{project_id}/{submission_id}",
                {"state": state or None, "via": via})
