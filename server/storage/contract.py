"""The storage contract: what any store offers, whichever engine is behind it (SQLite: sqlite.py; PostgreSQL:
postgres.py). Code outside server/storage/ talks to a store only through these methods and never runs SQL.

Units of work
-------------
One request or command is one unit of work: ``with store.transaction():``. The block commits when it ends and rolls
back whole when it raises, so nothing is ever half-stored; the exception then goes on to the caller. A transaction
started inside another becomes a savepoint: its own error rolls back only its part, if the caller catches it.

- Writes that are steps of a larger unit of work (storing a submission's version, its rows, files and aggregates;
  a rebuild) must be called inside the caller's ``store.transaction()`` (or the job given to ``write_batched``).
  They are marked ``@in_transaction`` in the query modules and raise StorageError when called outside one:
  alone, each would commit its part of the work on its own.
- Every other write (creating a user, revoking a device, a review state, a list import...) is a whole unit of work
  by itself: it opens its own ``store.transaction()``, or joins the caller's when there is one.
- Reads never need a transaction. Inside one they see the transaction's own writes; outside one, the latest commit.
- ``write_batched(job)`` runs ``job`` as one unit of work that may share its COMMIT with jobs other threads hand in
  at the same time (group commit): each job in its own savepoint, so one job's error leaves the others whole.
- ``export_snapshot()`` is a read-only transaction of its own on a dedicated connection: one consistent view for a
  whole download while writers go on.

Errors: StorageError (base.py) for a store used against this contract; StoreUnavailable when the database cannot be
reached (PostgreSQL down or restarting): the HTTP layer answers 503, and nothing of the unit of work was stored.
Database errors (a constraint violated) propagate as the engine raises them, after the rollback.

Adding a query: put it in the query module of its concern (or a new mixin module added to SQLiteStore's bases in
sqlite.py; PostgresStore takes the same bases), in SQL that runs on both engines (``?`` placeholders, ON CONFLICT,
RETURNING id, COALESCE, ISO text timestamps made in Python: ``base.now()``); declare it in the protocol of its
concern here, with a one-line docstring; mark a step write ``@in_transaction``. tests/test_storage_contract.py checks
that both stores implement every method declared here with the same signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar

from .sqlite_exports import ExportSnapshot

T = TypeVar("T")


class FormStore(Protocol):
    """Projects, forms and their versions, form media, stored files (blobs), project settings."""

    def create_project(self, name: str) -> dict:
        """Create a project named `name`; returns its row."""
        ...

    def get_project(self, project_id: int) -> dict | None:
        """A project's row, or None."""
        ...

    def project_by_name(self, name: str) -> dict | None:
        """The project with this name, or None."""
        ...

    def list_projects(self) -> list[dict]:
        """Every project, oldest first."""
        ...

    def project_settings(self, project_id: int) -> dict:
        """A project's settings (poverty lines and the like), {} when none."""
        ...

    def set_project_settings(self, project_id: int, settings: Mapping[str, Any]) -> None:
        """Replace a project's settings."""
        ...

    def get_form(self, project_id: int, xml_form_id: str) -> dict | None:
        """A form of a project by its XForm id, or None."""
        ...

    def list_forms(self, project_id: int) -> list[dict]:
        """Forms with their current definition's version, title and hash, ordered by title."""
        ...

    def get_form_def(self, form_id: int, version: str) -> dict | None:
        """One published version of a form, or None."""
        ...

    def get_form_def_by_id(self, def_id: int) -> dict | None:
        """One published form version by its id, or None."""
        ...

    def form_def_xml(self, def_id: int) -> bytes:
        """The XForm XML of a published version."""
        ...

    def list_form_defs(self, form_id: int) -> list[dict]:
        """Every published version of a form, oldest first."""
        ...

    def add_form_def(self, project_id: int, xml_form_id: str, version: str, title: str, xml: bytes, hash_: str, xlsform:
                     bytes | None, actor: str | None) -> int:
        """Publish a new version and make it current; creates the form on first publish."""
        ...

    def set_form_state(self, form_id: int, state: str) -> None:
        """Open, close (or set closing) a form."""
        ...

    def set_form_attachment(self, def_id: int, name: str, content: bytes) -> None:
        """Attach a media file to a form version (replacing one of the same name)."""
        ...

    def form_attachments(self, def_id: int) -> dict[str, dict]:
        """A form version's media files by name (sha256, md5, size)."""
        ...

    def put_blob(self, content: bytes) -> str:
        """Store a file's bytes once, named by their SHA-256 (returned)."""
        ...

    def get_blob(self, sha256: str) -> bytes | None:
        """A stored file's bytes, or None."""
        ...

    def blob_md5(self, sha256: str) -> str | None:
        """A stored file's MD5, or None."""
        ...


class SubmissionStore(Protocol):
    """Submissions, their versions, attachments, quality flags and typed rows."""

    def def_by_instance(self, form_id: int, instance_id: str) -> dict | None:
        """The submission version with this instanceID in a form (with its submission's state), or None."""
        ...

    def create_submission(self, project_id: int, form_id: int, instance_id: str) -> int:
        """A new logical submission (its first version follows with add_submission_def); returns its id."""
        ...

    def add_submission_def(self, submission_id: int, form_id: int, form_def_id: int, meta: Mapping[str, Any], xml:
                           bytes, first: bool = False) -> int:
        """Store a version of a submission, make it current and the previous one not (first: there is none)."""
        ...

    def add_attachment_slots(self, def_id: int, names: Iterable[str], client_audit: Iterable[str] = ()) -> None:
        """Record the files a submission version references (still missing until filled)."""
        ...

    def fill_attachment(self, def_id: int, name: str, content: bytes, content_type: str | None) -> bool:
        """Store a file into its expected slot; False when the submission expects no such file."""
        ...

    def carry_attachments(self, from_def: int, to_def: int) -> None:
        """An edit keeps the earlier version's files for the names it still references and did not resend."""
        ...

    def attachments(self, def_id: int) -> list[dict]:
        """A submission version's expected files, received or not, by name."""
        ...

    def add_flags(self, def_id: int, flags: Iterable[tuple[str, str]]) -> None:
        """Record quality flags (code, message) of a submission version."""
        ...

    def flags(self, def_id: int) -> list[dict]:
        """A submission version's quality flags in the order they were recorded."""
        ...

    def get_submission(self, form_id: int, instance_id: str) -> dict | None:
        """A logical submission by any of its instance IDs, with its current version's metadata."""
        ...

    def delete_submission(self, submission_id: int) -> None:
        """Soft-delete: the rows stay, the submission leaves every list, and its instanceIDs cannot return."""
        ...

    def submission_xml(self, def_id: int) -> bytes:
        """The XML of a submission version as received."""
        ...

    def submission_versions(self, submission_id: int) -> list[dict]:
        """Every version of a submission, oldest first."""
        ...

    def count_submissions(self, form_id: int) -> int:
        """How many submissions a form has (deleted ones left out)."""
        ...

    def list_submissions(self, form_id: int, limit: int = 100, after_id: int = 0) -> list[dict]:
        """A form's submissions after `after_id`, by id, at most `limit`."""
        ...

    def set_submission_scope(self, submission_id: int, cluster: str | None, hamlet: str | None, round_no: int | None,
                             n_flags: int, instance_name: str | None) -> None:
        """Keep the list filters on the submission row (inside the ingest transaction)."""
        ...

    def ensure_table(self, table: str, columns: Mapping[str, str]) -> None:
        """Create a typed-row table or add the columns a newer form version brought."""
        ...

    def replace_rows(self, tables: Iterable[str], submission_id: int, rows: Mapping[str, tuple[Sequence[str],
                     list[Sequence]]]) -> None:
        """Swap a submission's typed rows for those of its current version (inside the caller's transaction)."""
        ...

    def rows(self, table: str, submission_id: int | None = None) -> list[dict]:
        """A typed-row table's rows (of one submission), in the order they were written."""
        ...

    # The OData entity bodies kept per submission version (odata_queries.py, server/central/odata_entities.py).

    def put_odata_entity(self, def_id: int, form_def_id: int, body: str) -> None:
        """Keep a submission version's OData entity body, made against form version form_def_id (in a transaction)."""
        ...

    def odata_entities(self, def_ids: Sequence[int], form_def_id: int) -> dict[int, str]:
        """The kept bodies of these submission versions that were made against form version form_def_id."""
        ...

    def odata_entity_sources(self, form_id: int, submission_ids: Sequence[int] | None = None) -> list[dict]:
        """What an entity body needs of these submissions' current versions (None: all of the form's), by id."""
        ...


class ListStore(Protocol):
    """Server-managed lists (clusters, hamlets, households...) and the CSV files served to phones."""

    def ensure_list(self, project_id: int, list_name: str, columns: Sequence[str]) -> None:
        """Create the list, or give an existing one the columns a newer release added (at the end, empty for..."""
        ...

    def list_names(self, project_id: int) -> list[str]:
        """The names of a project's server-managed lists."""
        ...

    def list_columns(self, project_id: int, list_name: str) -> list[str] | None:
        """A list's columns, or None when there is no such list."""
        ...

    def upsert_list_items(self, project_id: int, list_name: str, items: Iterable[tuple[str, Mapping]], source: str,
                          replace: bool = False) -> int:
        """Add (or, with replace, update) items; bumps the list version when anything changed."""
        ...

    def list_managed(self, project_id: int, list_name: str) -> bool:
        """Whether the server manages this list (list_version is not None)."""
        ...

    def list_version(self, project_id: int, list_name: str) -> int | None:
        """A list's version (it moves on every change), or None when there is no such list."""
        ...

    def list_items(self, project_id: int, list_name: str) -> Iterator[tuple[str, dict]]:
        """A list's items (name, data) in the order they were added."""
        ...

    def list_item(self, project_id: int, list_name: str, name: str) -> dict | None:
        """One item's data, or None."""
        ...

    def list_values(self, project_id: int, list_name: str, column: str) -> frozenset[str]:
        """Every value a list column has held (items are never deleted), cached per list version."""
        ...

    def list_labels(self, project_id: int, list_name: str, column: str = "label") -> Mapping[str, str]:
        """Each item's `column` value, or its name when it has none, by name (read-only), cached per list version."""
        ...

    def list_missing(self, project_id: int, list_name: str, column: str, values: set[str]) -> set[str]:
        """The values a list has never held: an indexed lookup for 'name', the cached set otherwise."""
        ...

    def list_csv(self, project_id: int, list_name: str, render: Callable[[list[str], Iterator[tuple[str, dict]]],
                 bytes]) -> dict | None:
        """The CSV bytes of a list as served to phones, regenerated only when the list changed."""
        ...

    def forget_empty_list_csvs(self) -> int:
        """Drop the cached CSV of every list without items, so that it is rendered again."""
        ...


class AggregateStore(Protocol):
    """The aggregates kept at ingest (well-being, income, nodes, field households) and their rebuild."""

    def replace_wb_ratings(self, project_id: int, submission_id: int, rows: list[dict]) -> set[tuple[int, str]]:
        """Swap a submission's ratings; returns every (round, household) whose combination may change."""
        ...

    def wb_ratings_of(self, project_id: int, round_no: int, hh_id: str) -> list[dict]:
        """Every group's rating of one household in one round."""
        ...

    def wb_ratings_of_many(self, project_id: int, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list[dict]]:
        """wb_ratings_of for many (round, household) at once: {key: its ratings by submission} (absent: none)."""
        ...

    def wb_ratings(self, project_id: int, round_no: int, cluster: str | None = None,
                   hamlet: str | None = None) -> list[dict]:
        """The ratings of a round in a scope (cluster, hamlet), by household."""
        ...

    def set_wb_household(self, project_id: int, round_no: int, hh_id: str, row: Mapping[str, Any] | None) -> None:
        """Write (or remove) a household's combined category and move the counts by the difference."""
        ...

    def set_wb_households(self, project_id: int, items: Sequence[tuple[int, str, Mapping[str, Any] | None]]) -> None:
        """set_wb_household for many distinct (round, household) at once, with the same end state."""
        ...

    def wb_households(self, project_id: int, round_no: int, cluster: str | None = None,
                      hamlet: str | None = None) -> list[dict]:
        """The combined categories of a round's households in a scope."""
        ...

    def set_household_node(self, project_id: int, hh_id: str, node: str) -> None:
        """A household's poverty node became known: move its well-being counts to that node, in every round."""
        ...

    def household_node(self, project_id: int, hh_id: str) -> str:
        """The node a household belongs to: from its latest income interview, else from the household list."""
        ...

    def household_nodes(self, project_id: int, hh_ids: Iterable[str]) -> dict[str, str]:
        """household_node for many households at once: {hh_id: node}."""
        ...

    def wb_count_rows(self, project_id: int, round_no: int, cluster: str | None = None, hamlet: str | None = None, node:
                      str | None = None, by: Sequence[str] = ()) -> list[dict]:
        """Summed counts per category, grouped by any of cluster, hamlet, node: no submission is read."""
        ...

    def rounds(self, project_id: int, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds with any counts (in these clusters; None: any), ascending."""
        ...

    def wb_transition_rows(self, project_id: int, base: int, follow: int, clusters: Sequence[str] | None = None,
                           hamlet: str | None = None) -> list[dict]:
        """Households placed in both rounds (in these clusters) by follow-up hamlet and categories, from kept counts."""
        ...

    def replace_hh_income(self, project_id: int, submission_id: int, row: Mapping[str, Any] | None) -> set[str]:
        """Swap the income facts a submission contributes; a later interview of the same household and round wins."""
        ...

    def income_count_rows(self, project_id: int, round_no: int, cluster: str | None = None, hamlet: str | None = None,
                          node: str | None = None, by: Sequence[str] = ()) -> list[dict]:
        """Summed income counts of a scope, grouped by any of cluster, hamlet, node."""
        ...

    def income_lines_used(self, project_id: int, round_no: int, cluster: str | None = None, hamlet: str | None = None,
                          node: str | None = None) -> list[dict]:
        """The poverty lines a scope's households were measured against, with how many households each."""
        ...

    def hh_income(self, project_id: int, round_no: int | None, cluster: str | None = None,
                  hamlet: str | None = None) -> list[dict]:
        """The income facts of a round's households in a scope."""
        ...

    def replace_node_record(self, project_id: int, submission_id: int, row: Mapping[str, Any] | None) -> None:
        """Swap the poverty-node record a submission contributes."""
        ...

    def node_records(self, project_id: int, round_no: int | None = None, cluster: str | None = None) -> list[dict]:
        """Poverty-node records of a project (in a round, a cluster)."""
        ...

    def replace_field_households(self, project_id: int, submission_id: int, rows: Iterable[dict]) -> None:
        """Swap the households a submission says were added in the field."""
        ...

    def field_household_reports(self, project_id: int, clusters: Iterable[str] | None = None,
                                hamlet: str | None = None) -> list[dict]:
        """Every current report of a household added in the field (rejected and deleted submissions left out)."""
        ...

    def replace_wb_gone(self, project_id: int, submission_id: int, rows: Iterable[dict]) -> None:
        """Swap the listed households a submission says are no household any more."""
        ...

    def wb_gone(self, project_id: int, round_no: int, hamlet: str, cluster: str | None) -> list[dict]:
        """Households a group of this hamlet (in `cluster`, None: any) said are not a household any more."""
        ...

    def group_clashes(self, project_id: int, submission_id: int, round_no: int, cluster: str, hamlet: str, group_id:
                      str) -> list[dict]:
        """Other current rankings of the same hamlet, round and group letter (ratings are what they count by)."""
        ...

    def replace_wb_validated(self, project_id: int, submission_id: int, rows: list[dict]) -> set[tuple[int, str]]:
        """Swap a validation meeting's outcomes; returns every (round, household) whose category may change."""
        ...

    def wb_validated_of_many(self, project_id: int, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict]:
        """The latest validation meeting's outcome for each (round, household) that has one."""
        ...

    def clear_aggregates(self, project_id: int) -> None:
        """Delete every aggregate row of a project (before a rebuild, in the same transaction)."""
        ...

    def current_submissions(self, project_id: int, xml_form_id: str) -> Iterator[dict]:
        """Every current, not deleted, not rejected submission of a form, oldest first, with its XML."""
        ...

    def aggregate_snapshot(self, project_id: int) -> dict[str, list[tuple]]:
        """Every aggregate row of a project (monitoring facts too), for comparing ingest's state with a rebuild."""
        ...


class ReviewStore(Protocol):
    """Review of submissions and poverty nodes, overview counts, the audit log."""

    def submission_page(self, project_id: int, filters: Mapping[str, Any], clusters: Iterable[str] | None, limit: int =
                        50, before_id: int | None = None) -> list[dict]:
        """Newest first, keyset-paged on id, so page 2,000 of a million rows costs what page 1 does."""
        ...

    def submission_by_id(self, project_id: int, submission_id: int) -> dict | None:
        """A submission of a project with its current version's metadata, or None."""
        ...

    def set_review_state(self, submission_id: int, state: str, actor: str, comment: str) -> None:
        """Set a submission's review state and record it with a comment."""
        ...

    def add_comment(self, submission_id: int, actor: str, body: str) -> None:
        """Add a comment to a submission."""
        ...

    def comments(self, submission_id: int) -> list[dict]:
        """A submission's comments and review-state changes, oldest first."""
        ...

    def submission_attachment(self, submission_id: int, name: str) -> dict | None:
        """A received file of a submission's current version, or None."""
        ...

    def overview_counts(self, project_id: int, clusters: Iterable[str] | None) -> dict:
        """Submissions by review state and by form, and flagged ones not yet reviewed."""
        ...

    def add_node_review(self, project_id: int, round_no: int, node_id: str, status: str, actor: str,
                        comment: str) -> None:
        """Record a review step of a poverty node."""
        ...

    def node_reviews(self, project_id: int, round_no: int | None) -> dict[str, list[dict]]:
        """The review steps of each poverty node (in a round)."""
        ...

    def hamlet_piles(self, project_id: int, round_no: int, hamlet: str, cluster: str | None = None) -> list[dict]:
        """Each informant group's own piles (label, criteria, level) for a hamlet and round (and cluster."""
        ...

    def household_labels(self, project_id: int, hh_ids: Iterable[str]) -> dict[str, str]:
        """Households' labels from the household list, by id (the id when none)."""
        ...

    def audit(self, actor: str | None, action: str, target: str | None = None, details: Any = None) -> None:
        """Append an entry to the audit log."""
        ...

    def audit_entries(self, action: str | None = None, limit: int = 100) -> list[dict]:
        """The newest audit entries (of one action)."""
        ...

    def audit_search(self, action: str | None = None, actor: str | None = None, since: str | None = None, until: str |
                     None = None, limit: int = 200, before_id: int | None = None) -> list[dict]:
        """Audit entries filtered by action prefix, actor and time, newest first, keyset-paged."""
        ...

    def audit_actions(self) -> list[str]:
        """The distinct actions the audit log holds."""
        ...


class PeopleStore(Protocol):
    """Users, web sessions, Digest nonce counts, sign-in throttling, memberships, devices, API tokens."""

    def create_user(self, email: str, role: str, password_hash: str, digest_ha1: str) -> dict:
        """Create a user; returns its row."""
        ...

    def user_by_id(self, user_id: int) -> dict | None:
        """An enabled user, or None."""
        ...

    def user_by_email(self, email: str) -> dict | None:
        """An enabled user by e-mail (case-insensitive), or None."""
        ...

    def user_any(self, user_id: int) -> dict | None:
        """A user whether or not disabled (for administration pages)."""
        ...

    def list_users(self) -> list[dict]:
        """Every user, by e-mail."""
        ...

    def count_users(self, role: str | None = None) -> int:
        """How many users there are (with this role)."""
        ...

    def disable_user(self, user_id: int) -> None:
        """Disabling ends the user's sessions and revokes their API tokens."""
        ...

    def set_password(self, user_id: int, password_hash: str, digest_ha1: str, keep_session: str | None = None) -> None:
        """A new password ends every session of the user but keep_session (the key of the one that changed it)."""
        ...

    def set_user_label_language(self, user_id: int, code: str | None) -> None:
        """The user's language for question and choice labels on the pages; None: the project's default."""
        ...

    def set_project_label_language(self, project_id: int, code: str) -> None:
        """The project's default language for labels on the pages."""
        ...

    def create_session(self, key: str, user_id: int, now: float, lifetime_s: float) -> None:
        """Start a web session (and forget expired ones)."""
        ...

    def user_by_session(self, key: str, now: float) -> dict | None:
        """The enabled user of a live web session, or None."""
        ...

    def end_session(self, key: str) -> None:
        """End one web session."""
        ...

    def end_sessions(self, user_id: int) -> None:
        """End every web session of a user."""
        ...

    def use_nonce_count(self, nonce: str, nc: int, issued_at: float, forget_before: float) -> bool:
        """Record that this nonce count was used; False if it was already."""
        ...

    def record_sign_in_failure(self, email: str, remote_addr: str | None, at: float, forget_before: float) -> None:
        """Count a failed sign-in (and forget old ones)."""
        ...

    def sign_in_failures(self, email: str, remote_addr: str | None, since: float) -> tuple[int, float | None]:
        """How many failed sign-ins this account had from this address since then, and when the last was."""
        ...

    def clear_sign_in_failures(self, email: str, remote_addr: str | None) -> None:
        """Forget an account's failed sign-ins from an address."""
        ...

    def add_membership(self, user_id: int, project_id: int, clusters: Iterable[str] = ()) -> None:
        """Make a user a member of a project (with clusters, for NDAs)."""
        ...

    def set_clusters(self, user_id: int, project_id: int, clusters: Iterable[str]) -> None:
        """Replace the clusters an NDA is assigned in a project."""
        ...

    def memberships(self, user_id: int) -> dict[int, set[str]]:
        """project id -> the clusters assigned in it (empty for roles that see the whole project)."""
        ...

    def project_members(self, project_id: int) -> list[dict]:
        """A project's members with their clusters."""
        ...

    def create_device(self, project_id: int, name: str, token: str, actor: str | None) -> dict:
        """Register a phone with its token; returns its row."""
        ...

    def get_device(self, device_id: int) -> dict | None:
        """A device by id, or None."""
        ...

    def device_by_token(self, token: str) -> dict | None:
        """A device by its token, or None."""
        ...

    def list_devices(self, project_id: int | None = None) -> list[dict]:
        """Every device (of a project)."""
        ...

    def revoke_device(self, device_id: int) -> None:
        """Revoke a device: its token stops working."""
        ...

    def touch_device(self, device_id: int) -> None:
        """Record that a device was just seen."""
        ...

    def device_form_ids(self, device_id: int) -> set[int]:
        """The forms a device is given; empty means every form of its project."""
        ...

    def set_device_forms(self, device_id: int, form_ids: Iterable[int]) -> None:
        """Replace the forms a device is given (none: every form of its project)."""
        ...

    def create_api_token(self, user_id: int, token_hash: str, label: str | None) -> int:
        """Store an API token's hash; returns its id."""
        ...

    def user_by_api_token(self, token_hash: str) -> dict | None:
        """The enabled user of a live API token, or None."""
        ...

    def revoke_api_tokens(self, user_id: int) -> None:
        """Revoke every API token of a user."""
        ...

    def api_tokens(self, user_id: int) -> list[dict]:
        """A user's API tokens, newest first, without their hashes."""
        ...

    def revoke_api_token(self, user_id: int, token_id: int) -> dict | None:
        """Revoke one of a user's still valid tokens; the token (id, label), or None when there is no such token."""
        ...


class MonitoringStore(Protocol):
    """Enumerator monitoring: each submission's monitoring facts, written at ingest, and what the page reads."""

    def replace_monitor_fact(self, project_id: int, submission_id: int, fact: Mapping[str, Any]) -> None:
        """Store a submission's monitoring facts, replacing its earlier version's (a step write)."""
        ...

    def monitor_fact(self, submission_id: int) -> dict | None:
        """A submission's monitoring facts, or None."""
        ...

    def set_monitor_duration(self, submission_id: int, seconds: float, source: str) -> None:
        """Set an interview's length once its audit log has arrived (a step write)."""
        ...

    def clear_monitor_facts(self, project_id: int) -> None:
        """Forget a project's monitoring facts (before they are rebuilt)."""
        ...

    def monitor_facts(self, project_id: int, clusters: Iterable[str] | None, since: str | None = None,
                      until: str | None = None, form: str | None = None,
                      in_clusters: Iterable[str] | None = None) -> list[dict]:
        """Facts of current, not deleted submissions with their review state, by day range, form and clusters."""
        ...

    def monitor_enumerator_names(self, project_id: int) -> dict[str, str]:
        """What the page calls each enumerator key: a device by its name, a user by their e-mail."""
        ...

    def monitor_sources(self, project_id: int) -> Iterator[dict]:
        """Every current, not deleted submission of a project with what its facts are made from, oldest first."""
        ...

    def client_audit(self, def_id: int) -> bytes | None:
        """The bytes of a submission version's audit log (audit.csv), if it has arrived."""
        ...


class ChartStore(Protocol):
    """What the charts, the map and the submission titles read."""

    def submissions_per_day_by(self, project_id: int, since: str, clusters: Iterable[str] | None,
                               by: str) -> list[dict]:
        """Submissions received per day (UTC) since `since`, by form or by enumerator ("form" / "enumerator")."""
        ...

    def household_points(self, project_id: int, round_no: int, data_table: str, cluster: str | None = None,
                         hamlet: str | None = None) -> list[dict]:
        """A round's household income interviews with their raw geopoint and well-being category."""
        ...

    def node_rounds(self, project_id: int, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds with a poverty-node record (in these clusters; None: any), ascending."""
        ...

    def submission_subjects(self, data_table: str, columns: tuple[str, ...], submission_ids: list[int]) -> dict:
        """{submission id: {column: value}} from a form's typed table (a missing column: None)."""
        ...

    def hamlet_rounds(self, project_id: int, hamlet: str, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds in which a hamlet has ranked households (in these clusters; None: any), ascending."""
        ...


class CentralStore(Protocol):
    """What ODK Central's REST API and OData feed (server/central/) read."""

    def central_last_sign_in(self, email: str) -> str | None:
        """When this user last signed in, or None."""
        ...

    def central_form_counts(self, form_id: int, clusters: Iterable[str] | None) -> dict:
        """A form's submissions by review state and when the last came (X-Extended-Metadata)."""
        ...

    def central_form_created(self, form_id: int) -> str | None:
        """When a form's first version was published."""
        ...

    def central_form_def(self, def_id: int) -> dict | None:
        """One form version (id, version, title, hash, published_at, published_by), or None."""
        ...

    def central_form_versions(self, form_id: int) -> list[dict]:
        """A form's versions, newest first."""
        ...

    def central_submissions(self, form_id: int, clusters: Iterable[str] | None, *, odata: bool = False,
                            before_id: int | None = None, limit: int | None = None,
                            where: tuple[str, list] | None = None, instance_id: str | None = None,
                            offset: int = 0) -> list[dict]:
        """Current versions of a form's submissions with their actors, newest first (keyset: before_id)."""
        ...

    def central_count(self, form_id: int, clusters: Iterable[str] | None,
                      where: tuple[str, list] | None = None) -> int:
        """How many not deleted submissions of a form match (in these clusters, under this $filter)."""
        ...

    def central_submission(self, form_id: int, instance_id: str) -> dict | None:
        """One submission by its first instanceID, whatever its cluster, or None."""
        ...

    def central_submission_id(self, form_id: int, instance_id: str) -> int | None:
        """The id of the submission whose first instanceID this is, or None."""
        ...

    def central_repeat_parents(self, table: str, submission_ids: Sequence[int]) -> set[str]:
        """The keys of the rows (or submissions) that hold at least one row of this repeat table."""
        ...

    def central_repeat_holders(self, table: str, submission_ids: Sequence[int]) -> set[int]:
        """Which of these submissions have rows in this repeat table."""
        ...

    def central_versions(self, submission_id: int) -> list[dict]:
        """A submission's versions with their actors, newest first."""
        ...

    def central_comments(self, submission_id: int) -> list[dict]:
        """A submission's comments with a body, oldest first."""
        ...

    def central_main_rows(self, table: str, submission_ids: Sequence[int]) -> tuple[list[str], dict[int, tuple]]:
        """The typed top-level rows of these submissions: (column names, {submission id: row})."""
        ...

    def central_repeat_rows(self, table: str, submission_ids: Sequence[int]) -> tuple[list[str], list[tuple]]:
        """Every row of one repeat table for these submissions, in the order written: (column names, rows)."""
        ...

    def central_repeat_page(self, table: str, form_id: int, clusters: Iterable[str] | None,
                            after: tuple[int, int] | None, limit: int | None,
                            where: tuple[str, list] | None = None, instance_id: str | None = None,
                            offset: int = 0) -> tuple[list[str], list[tuple]]:
        """A keyset page of a repeat table, newest submission first, with _rowid and _root: (column names, rows)."""
        ...

    def central_repeat_count(self, table: str, form_id: int, clusters: Iterable[str] | None,
                             where: tuple[str, list] | None = None, instance_id: str | None = None) -> int:
        """How many rows of a repeat table belong to the form's matching, not deleted submissions."""
        ...

    def central_list_created(self, project_id: int, list_name: str) -> str | None:
        """When a managed list's first item was added, or None."""
        ...

    def central_list_entities(self, project_id: int, list_name: str) -> Iterator[tuple[str, dict, str]]:
        """A list's items (name, data, when added) in the order they were added."""
        ...

    def central_filter_sql(self, node: tuple) -> tuple[str, list]:
        """A parsed $filter as an SQL condition over submissions s and their current version d, with parameters."""
        ...


class ExportStore(Protocol):
    """The read side of researchers' downloads."""

    def export_snapshot(self) -> Iterator[ExportSnapshot]:
        """A dedicated read-only connection holding one read transaction for the whole export."""
        ...


class MaintenanceStore(Protocol):
    """Units of work, schema, health and backups: the engine's part of the contract."""

    def transaction(self) -> ContextManager[Any]:
        """One unit of work: commits when the block ends, rolls back whole when it raises; nested: a savepoint."""
        ...

    def write_batched(self, job: Callable[[], T]) -> T:
        """Run job in a write transaction shared with the jobs other threads hand in meanwhile (group commit)."""
        ...

    def migrate(self) -> list[str]:
        """Apply the named migrations not yet applied; returns their names."""
        ...

    def ping(self) -> bool:
        """True when the database answers."""
        ...

    def integrity_check(self) -> str:
        """The engine's own consistency check of the database ('ok' when sound)."""
        ...

    def data_tables(self) -> list[str]:
        """The typed-row tables (data_<project>_<form>[__<repeat>]) that exist, by name."""
        ...

    def table_exists(self, table: str) -> bool:
        """Whether a table (e.g. a form's typed-row table) exists. A typed-row table's columns are read once and
        reused until a newer form version is published, through this store or another (table_columns.py)."""
        ...

    def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        """A secret every app server shares (e.g. the session key): made once by `make`, then read back."""
        ...

    def backup_to(self, target: str | Path) -> dict:
        """Copy the live database to `target` (a new file; written beside it first, then renamed into place)."""
        ...

    def close(self) -> None:
        """Close this thread's connection (SQLite) or the pool (PostgreSQL)."""
        ...

    # What the load runs (bench/) measure by (bench_queries.py).

    def count_all_submissions(self) -> int:
        """Every submission row of every project, deleted ones too: how far the bench has filled the database."""
        ...

    def last_submission_id(self, form_id: int) -> int:
        """The highest submission id of a form (0 when it has none): where the newest page of its list starts."""
        ...

    def engine_version(self) -> str:
        """The database engine and its version, e.g. 'SQLite 3.40.1' or 'PostgreSQL 15.8'."""
        ...

    def database_bytes(self) -> int:
        """The size of the database (SQLite: the main file, without its write-ahead log)."""
        ...



class Store(FormStore, SubmissionStore, ListStore, AggregateStore, ReviewStore, PeopleStore, MonitoringStore,
            ChartStore, CentralStore, ExportStore, MaintenanceStore, Protocol):
    """Everything a store offers: the union of the protocols above."""

    engine: str   # "sqlite" or "postgresql"
