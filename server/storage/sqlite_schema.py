"""The SQLite schema as one named, append-only migration set. Part of the storage layer: SQL lives here
and in storage/sqlite.py only.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("ppa")


@migrations()
def m001_core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        );
        CREATE TABLE forms (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            xml_form_id TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closing', 'closed')),
            current_def_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (project_id, xml_form_id)
        );
        CREATE TABLE form_defs (
            id INTEGER PRIMARY KEY,
            form_id INTEGER NOT NULL REFERENCES forms(id),
            version TEXT NOT NULL,
            title TEXT NOT NULL,
            xml BLOB NOT NULL,
            hash TEXT NOT NULL,
            xlsform BLOB,
            published_at TEXT NOT NULL,
            published_by TEXT,
            UNIQUE (form_id, version)
        );
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            md5 TEXT NOT NULL,
            size INTEGER NOT NULL,
            content BLOB NOT NULL
        );
        CREATE TABLE form_attachments (
            form_def_id INTEGER NOT NULL REFERENCES form_defs(id),
            name TEXT NOT NULL,
            blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            PRIMARY KEY (form_def_id, name)
        );
        CREATE TABLE devices (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            name TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            created_by TEXT,
            revoked_at TEXT,
            last_seen_at TEXT
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            digest_ha1 TEXT NOT NULL,
            created_at TEXT NOT NULL,
            disabled_at TEXT
        );
        CREATE TABLE submissions (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            form_id INTEGER NOT NULL REFERENCES forms(id),
            instance_id TEXT NOT NULL,
            current_def_id INTEGER,
            review_state TEXT NOT NULL DEFAULT 'received',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE INDEX submissions_form_created ON submissions(form_id, id);
        CREATE TABLE submission_defs (
            id INTEGER PRIMARY KEY,
            submission_id INTEGER NOT NULL REFERENCES submissions(id),
            form_id INTEGER NOT NULL REFERENCES forms(id),
            form_def_id INTEGER NOT NULL REFERENCES form_defs(id),
            instance_id TEXT NOT NULL,
            deprecated_id TEXT,
            instance_name TEXT,
            xml BLOB NOT NULL,
            encrypted INTEGER NOT NULL DEFAULT 0,
            device_id INTEGER REFERENCES devices(id),
            user_id INTEGER REFERENCES users(id),
            user_agent TEXT,
            device_ref TEXT,
            received_at TEXT NOT NULL,
            is_current INTEGER NOT NULL DEFAULT 1,
            UNIQUE (form_id, instance_id)
        );
        CREATE INDEX submission_defs_submission ON submission_defs(submission_id);
        CREATE TABLE submission_attachments (
            def_id INTEGER NOT NULL REFERENCES submission_defs(id),
            name TEXT NOT NULL,
            blob_sha256 TEXT REFERENCES blobs(sha256),
            content_type TEXT,
            is_client_audit INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (def_id, name)
        );
        CREATE TABLE quality_flags (
            id INTEGER PRIMARY KEY,
            def_id INTEGER NOT NULL REFERENCES submission_defs(id),
            code TEXT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX quality_flags_def ON quality_flags(def_id);
        CREATE TABLE list_items (
            project_id INTEGER NOT NULL REFERENCES projects(id),
            list_name TEXT NOT NULL,
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            source TEXT NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (project_id, list_name, name)
        );
        CREATE TABLE lists (
            project_id INTEGER NOT NULL REFERENCES projects(id),
            list_name TEXT NOT NULL,
            columns TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            csv_version INTEGER NOT NULL DEFAULT 0,
            csv_sha256 TEXT REFERENCES blobs(sha256),
            PRIMARY KEY (project_id, list_name)
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT,
            action TEXT NOT NULL,
            target TEXT,
            details TEXT
        );
        CREATE INDEX audit_log_action ON audit_log(action, id);
        """
    )


@migrations()
def m002_aggregates(db: Database) -> None:
    """Facts derived from submissions at ingest, and the counts dashboards read without rescanning them."""
    db.executescript(
        """
        ALTER TABLE projects ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        -- one row per (household, informant-group session): level 1 happy, 2 average, 3 sad, NULL don't know
        CREATE TABLE wb_ratings (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            hh_id TEXT NOT NULL,
            submission_id INTEGER NOT NULL,
            group_id TEXT NOT NULL,
            cluster TEXT, hamlet TEXT,
            level INTEGER, pile INTEGER, piles INTEGER,
            PRIMARY KEY (project_id, round, hh_id, submission_id)
        );
        CREATE INDEX wb_ratings_submission ON wb_ratings(submission_id);
        CREATE INDEX wb_ratings_scope ON wb_ratings(project_id, round, cluster, hamlet);
        -- the combined category of each household in a round
        CREATE TABLE wb_households (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            hh_id TEXT NOT NULL,
            cluster TEXT, hamlet TEXT, node TEXT,
            n_groups INTEGER NOT NULL,
            mean REAL,
            final TEXT,
            flagged INTEGER NOT NULL DEFAULT 0,
            flags TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (project_id, round, hh_id)
        );
        CREATE INDEX wb_households_scope ON wb_households(project_id, round, cluster, hamlet);
        CREATE TABLE wb_counts (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            cluster TEXT NOT NULL, hamlet TEXT NOT NULL, node TEXT NOT NULL,
            final TEXT NOT NULL,            -- happy | average | sad | unrated
            n INTEGER NOT NULL DEFAULT 0,
            n_flagged INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (project_id, round, cluster, hamlet, node, final)
        );
        -- one row per household and round from the household income form
        CREATE TABLE hh_income (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            hh_id TEXT NOT NULL,
            submission_id INTEGER NOT NULL,
            cluster TEXT, hamlet TEXT, node TEXT, state TEXT, sector TEXT,
            size INTEGER NOT NULL,
            income_monthly REAL, consumption_monthly REAL,
            head_sex TEXT, social_group TEXT, land_class TEXT,
            line REAL, line_label TEXT,
            poor INTEGER, gap REAL, gap2 REAL,
            neg_income INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (project_id, round, hh_id)
        );
        CREATE UNIQUE INDEX hh_income_submission ON hh_income(submission_id);
        CREATE INDEX hh_income_scope ON hh_income(project_id, round, cluster, hamlet);
        CREATE TABLE income_counts (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            cluster TEXT NOT NULL, hamlet TEXT NOT NULL, node TEXT NOT NULL,
            n_hh INTEGER NOT NULL DEFAULT 0, n_persons INTEGER NOT NULL DEFAULT 0,
            n_no_line INTEGER NOT NULL DEFAULT 0,
            poor_hh REAL NOT NULL DEFAULT 0, poor_persons REAL NOT NULL DEFAULT 0,
            gap_hh REAL NOT NULL DEFAULT 0, gap_persons REAL NOT NULL DEFAULT 0,
            gap2_hh REAL NOT NULL DEFAULT 0, gap2_persons REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (project_id, round, cluster, hamlet, node)
        );
        -- one row per poverty-node record (a node in a cluster and round)
        CREATE TABLE node_records (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            node_id TEXT NOT NULL,
            submission_id INTEGER NOT NULL,
            cluster TEXT,
            data TEXT NOT NULL,
            PRIMARY KEY (project_id, round, node_id)
        );
        CREATE UNIQUE INDEX node_records_submission ON node_records(submission_id);
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            token_hash TEXT NOT NULL UNIQUE,
            label TEXT,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            last_used_at TEXT
        );
        """
    )


@migrations()
def m003_people(db: Database) -> None:
    """Who may do what: project memberships, NDAs' clusters, sign-in throttling, forms per device."""
    db.executescript(
        """
        ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE memberships (
            user_id INTEGER NOT NULL REFERENCES users(id),
            project_id INTEGER NOT NULL REFERENCES projects(id),
            PRIMARY KEY (user_id, project_id)
        );
        CREATE TABLE nda_clusters (
            user_id INTEGER NOT NULL REFERENCES users(id),
            project_id INTEGER NOT NULL REFERENCES projects(id),
            cluster TEXT NOT NULL,
            PRIMARY KEY (user_id, project_id, cluster)
        );
        CREATE TABLE sign_in_failures (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL COLLATE NOCASE,
            remote_addr TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX sign_in_failures_email ON sign_in_failures(email, at);
        CREATE TABLE device_forms (
            device_id INTEGER NOT NULL REFERENCES devices(id),
            form_id INTEGER NOT NULL REFERENCES forms(id),
            PRIMARY KEY (device_id, form_id)
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        """
    )


@migrations()
def m004_review(db: Database) -> None:
    """Review: who approved or rejected what, with comments; list filters kept on the submission row."""
    db.executescript(
        """
        ALTER TABLE submissions ADD COLUMN cluster TEXT;
        ALTER TABLE submissions ADD COLUMN hamlet TEXT;
        ALTER TABLE submissions ADD COLUMN round INTEGER;
        ALTER TABLE submissions ADD COLUMN n_flags INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE submissions ADD COLUMN instance_name TEXT;
        CREATE INDEX submissions_project_id ON submissions(project_id, id);
        CREATE INDEX submissions_project_state ON submissions(project_id, review_state, id);
        CREATE INDEX submissions_project_created ON submissions(project_id, created_at);
        CREATE INDEX submissions_project_cluster ON submissions(project_id, cluster, id);
        CREATE TABLE submission_comments (
            id INTEGER PRIMARY KEY,
            submission_id INTEGER NOT NULL REFERENCES submissions(id),
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            review_state TEXT,
            body TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX submission_comments_submission ON submission_comments(submission_id, id);
        CREATE TABLE node_reviews (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            round INTEGER NOT NULL,
            node_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('draft', 'reviewed', 'validated')),
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX node_reviews_node ON node_reviews(project_id, round, node_id, id);
        """
    )


@migrations()
def m005_income_lines(db: Database) -> None:
    """Which poverty lines a scope's households use, counted at ingest, so summaries never scan households."""
    db.executescript(
        """
        CREATE TABLE income_lines (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            cluster TEXT NOT NULL, hamlet TEXT NOT NULL, node TEXT NOT NULL,
            line_label TEXT NOT NULL,
            line REAL NOT NULL,
            n_hh INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (project_id, round, cluster, hamlet, node, line_label)
        );
        INSERT INTO income_lines (project_id, round, cluster, hamlet, node, line_label, line, n_hh)
            SELECT project_id, round, COALESCE(cluster, ''), COALESCE(hamlet, ''), COALESCE(node, ''), line_label,
                   line, count(*)
            FROM hh_income WHERE line_label IS NOT NULL
            GROUP BY project_id, round, COALESCE(cluster, ''), COALESCE(hamlet, ''), COALESCE(node, ''), line_label;
        """
    )


@migrations()
def m006_household_lookups(db: Database) -> None:
    """Ingest looks a household up across rounds (its latest node, its categories in every round): without these
    indexes each lookup scanned a project's whole hh_income or wb_households table, so ingest slowed as data grew."""
    db.executescript(
        """
        CREATE INDEX IF NOT EXISTS hh_income_household ON hh_income(project_id, hh_id, round);
        CREATE INDEX IF NOT EXISTS wb_households_household ON wb_households(project_id, hh_id);
        """
    )


@migrations()
def m007_no_parent_key_indexes(db: Database) -> None:
    """Typed repeat tables lose their _parent_key index: no query used it (rows are read by _submission_id), and
    its random keys made every repeat row written touch another page, more so as the tables grew."""
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'data\\_%' "
                              "ESCAPE '\\' AND name LIKE '%\\_parent\\_key' ESCAPE '\\'").fetchall():
        db.execute(f'DROP INDEX IF EXISTS "{name.replace(chr(34), chr(34) * 2)}"')


@migrations()
def m008_household_node_index(db: Database) -> None:
    """The node joins the household index, so a ranking finds its 40 households' latest nodes without reading
    their rows (m006 shipped without it: a migration is never edited once shipped)."""
    db.executescript(
        """
        DROP INDEX IF EXISTS hh_income_household;
        CREATE INDEX hh_income_household ON hh_income(project_id, hh_id, round, node);
        """
    )


@migrations()
def m009_wellbeing_node_index(db: Database) -> None:
    """The node joins wb_households' household index: every income interview asks which of the household's rounds
    sit under another node (usually none), and without the node in the index each of its rounds' rows was read to
    find out, about 0.1 ms a submission at a million submissions."""
    db.executescript(
        """
        DROP INDEX IF EXISTS wb_households_household;
        CREATE INDEX wb_households_household ON wb_households(project_id, hh_id, node);
        """
    )


@migrations()
def m010_sessions_and_nonce_counts(db: Database) -> None:
    """Web sessions live on the server (signing out ends them; a copied cookie stops working), Digest nonce counts
    are kept until their nonce expires (each is accepted once, by whichever worker sees it), and failed sign-ins
    are counted per account and address."""
    db.executescript(
        """
        CREATE TABLE web_sessions (
            key TEXT PRIMARY KEY,              -- SHA-256 of the session id the cookie holds
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX web_sessions_user ON web_sessions(user_id);
        CREATE INDEX web_sessions_expires ON web_sessions(expires_at);
        CREATE TABLE digest_nonce_counts (
            nonce TEXT NOT NULL,
            nc INTEGER NOT NULL,
            issued_at REAL NOT NULL,
            PRIMARY KEY (nonce, nc)
        ) WITHOUT ROWID;
        CREATE INDEX digest_nonce_counts_issued ON digest_nonce_counts(issued_at);
        CREATE INDEX sign_in_failures_account_address ON sign_in_failures(email, remote_addr, at);
        """
    )


@migrations()
def m011_income_completeness(db: Database) -> None:
    """Amounts not known (household income form 2026113001): a household whose income misses an amount is kept with
    income_complete = 0 and counted apart in n_incomplete, never measured as if the amount were zero. Rows written
    before are complete: earlier form versions required every amount."""
    db.executescript(
        """
        ALTER TABLE hh_income ADD COLUMN income_complete INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE income_counts ADD COLUMN n_incomplete INTEGER NOT NULL DEFAULT 0;
        """
    )


@migrations()
def m012_field_households(db: Database) -> None:
    """Households added in the field, one row per submission that added each (so the same household added by
    several groups and forms is seen as one, and disagreeing details are shown), and listed households a group
    said are not a household any more. Both are upkept at ingest like the other aggregates."""
    db.executescript(
        """
        CREATE TABLE field_households (
            project_id INTEGER NOT NULL,
            hh_id TEXT NOT NULL,
            submission_id INTEGER NOT NULL,
            form_id TEXT NOT NULL,
            cluster TEXT, hamlet TEXT, round INTEGER, group_id TEXT NOT NULL DEFAULT '',
            card TEXT NOT NULL DEFAULT '', head TEXT NOT NULL DEFAULT '', sex TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (project_id, hh_id, submission_id)
        );
        CREATE INDEX field_households_submission ON field_households(submission_id);
        CREATE INDEX field_households_scope ON field_households(project_id, cluster, hamlet);
        CREATE TABLE wb_gone (
            project_id INTEGER NOT NULL,
            hh_id TEXT NOT NULL,
            submission_id INTEGER NOT NULL,
            round INTEGER, cluster TEXT, hamlet TEXT, group_id TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '', into_hh TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (project_id, hh_id, submission_id)
        );
        CREATE INDEX wb_gone_submission ON wb_gone(submission_id);
        CREATE INDEX wb_gone_scope ON wb_gone(project_id, round, hamlet);
        """
    )


@migrations()
def m012b_validated_categories(db: Database) -> None:
    """The community validation meeting's outcome per household (category agreed, and why), from the ranking form's
    validation session. A household's `final` is the category that counts: the validated one where the meeting
    agreed one, else the combination of the groups' ratings, which `combined` keeps in every case."""
    db.executescript(
        """
        CREATE TABLE wb_validated (
            project_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            hh_id TEXT NOT NULL,
            submission_id INTEGER NOT NULL,
            cluster TEXT, hamlet TEXT,
            category TEXT NOT NULL CHECK (category IN ('happy', 'average', 'sad')),
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (project_id, round, hh_id, submission_id)
        );
        CREATE INDEX wb_validated_submission ON wb_validated(submission_id);
        ALTER TABLE wb_households ADD COLUMN combined TEXT;
        ALTER TABLE wb_households ADD COLUMN validated_reason TEXT;
        UPDATE wb_households SET combined = final;
        """
    )


@migrations()
def m013_label_languages(db: Database) -> None:
    """The language in which the pages show questions and choices: the project's default (English), and each
    user's own choice (NULL: the project's default). Codes as in server/form_languages.py."""
    db.executescript(
        """
        ALTER TABLE projects ADD COLUMN label_language TEXT NOT NULL DEFAULT 'en';
        ALTER TABLE users ADD COLUMN label_language TEXT;
        """
    )


@migrations()
def m014_server_settings(db: Database) -> None:
    """Values every app server of one database shares, made once by whichever starts first: with PostgreSQL the
    secret key that signs sessions and Digest nonces lives here when PPA_SECRET_KEY is empty (SQLite keeps it in
    DATA/secret_key)."""
    db.executescript(
        """
        CREATE TABLE server_settings (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


@migrations()
def m015_monitoring(db: Database) -> None:
    """Enumerator monitoring (high-frequency checks): one row of facts per submission, written at ingest in the
    submission's transaction and replaced by an edit: who sent it, the interview's day, its length, its "don't
    know" and refused answers, its quality flags, the household's income and consumption per head, and where it
    was made. The monitoring page aggregates these rows; `ppa aggregates rebuild` fills them for older data."""
    db.executescript(
        """
        CREATE TABLE monitor_facts (
            submission_id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL,
            form_id TEXT NOT NULL,
            enumerator TEXT NOT NULL,
            day TEXT NOT NULL,
            cluster TEXT, hamlet TEXT, round INTEGER, hh_id TEXT,
            duration_s REAL, duration_source TEXT,
            n_asked INTEGER NOT NULL DEFAULT 0,
            n_dk INTEGER NOT NULL DEFAULT 0,
            n_refused INTEGER NOT NULL DEFAULT 0,
            n_flags INTEGER NOT NULL DEFAULT 0,
            income_pc REAL, consumption_pc REAL,
            lat REAL, lon REAL
        );
        CREATE INDEX monitor_facts_day ON monitor_facts(project_id, day);
        CREATE INDEX monitor_facts_cluster ON monitor_facts(project_id, cluster);
        """
    )


@migrations()
def m016_odata_entities(db: Database) -> None:
    """Each submission version's OData entity body (server/central/odata_entities.py): its nested, typed data
    part, JSON-encoded as the feed writes it, made at ingest in the submission's transaction by the same builder
    the feed uses, against the form version that was current then (form_def_id). A default page of `Submissions`
    splices these with __id and __system instead of building 242 columns a row; a body made against another
    form version than today's current one is not used (the page builds that row as before) until
    `ppa aggregates rebuild` makes it again."""
    db.executescript(
        """
        CREATE TABLE odata_entities (
            def_id INTEGER PRIMARY KEY,
            form_def_id INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        """
    )


@migrations()
def m017_wb_transitions(db: Database) -> None:
    """Well-being transitions kept at ingest (transition_queries.py): households counted per pair of rounds in which
    they are placed, by their cluster and hamlet in each round and their category in each, so that the pages'
    "which hamlets moved towards sad" and "where each category's households went" read counts instead of pairing
    every household's rows at each view. Filled here from wb_households; ingest moves it from then on."""
    db.executescript(
        """
        CREATE TABLE wb_transitions (
            project_id INTEGER NOT NULL,
            from_round INTEGER NOT NULL,
            to_round INTEGER NOT NULL,
            from_cluster TEXT NOT NULL, from_hamlet TEXT NOT NULL,
            cluster TEXT NOT NULL, hamlet TEXT NOT NULL,   -- the later round's: where the household counts
            from_category TEXT NOT NULL,
            to_category TEXT NOT NULL,
            n INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (project_id, from_round, to_round, cluster, hamlet, from_cluster, from_hamlet, from_category,
                         to_category)
        );
        INSERT INTO wb_transitions (project_id, from_round, to_round, from_cluster, from_hamlet, cluster, hamlet,
                                    from_category, to_category, n)
        SELECT a.project_id, a.round, b.round, COALESCE(a.cluster, ''), COALESCE(a.hamlet, ''),
               COALESCE(b.cluster, ''), COALESCE(b.hamlet, ''), a.final, b.final, count(*)
        FROM wb_households a JOIN wb_households b
             ON b.project_id = a.project_id AND b.hh_id = a.hh_id AND b.round > a.round
        WHERE a.final IS NOT NULL AND a.final != '' AND b.final IS NOT NULL AND b.final != ''
        GROUP BY a.project_id, a.round, b.round, COALESCE(a.cluster, ''), COALESCE(a.hamlet, ''),
                 COALESCE(b.cluster, ''), COALESCE(b.hamlet, ''), a.final, b.final;
        """
    )
