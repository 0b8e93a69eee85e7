"""The `ppa` command line: thin commands over the same functions the server uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import bootstrap, catalog, cli_setup, config as config_module, errors, lists
from .auth import new_token
from .storage import Store


class Context:
    def __init__(self) -> None:
        self.config = cli_setup.settings()
        self._store: Store | None = None
        self.may_create = False   # set by init and serve, the only commands that make a new data folder

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = cli_setup.store(self.config, create=self.may_create)
        return self._store


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _user(ctx: "Context", email: str) -> dict:
    row = ctx.store.user_by_email(email)
    if row is None:
        _fail(f"no active user {email}")
    return row


@click.group(help="PPA data-collection server: setup, projects, devices, forms and lists.")
def main() -> None:
    pass


# -- setup and serving ---------------------------------------------------------

@main.command(help="Create the database, the default project with its forms and lists, and the first admin.")
@click.option("--skip-validate", is_flag=True, help="Do not run ODK Validate on newly published forms.")
@pass_ctx
def init(ctx: Context, skip_validate: bool) -> None:
    _init(ctx, validate=not skip_validate)


def _init(ctx: Context, validate: bool = True) -> bootstrap.SetupReport:
    cfg = ctx.config
    if cfg.get("DATABASE_URL"):
        click.echo("database: PostgreSQL at PPA_DATABASE_URL")
    else:
        new = not config_module.database_path(cfg).is_file()
        click.echo(f"data folder: {cli_setup.data_folder(cfg)}{', new' if new else ''}")
    ctx.may_create = True
    try:
        report = bootstrap.ensure_default_project(ctx.store, cfg["PROJECT_NAME"], cfg["FORMS"], validate=validate)
    except (catalog.FormBuildError, errors.Problem) as exc:
        _fail(f"could not publish the forms: {exc}")
    for item in report.published:
        state = "published" if item.created else "unchanged"
        click.echo(f"form {item.form_id} version {item.version}: {state} ({item.hash})")
    password = bootstrap.ensure_admin(ctx.store, cfg["ADMIN_EMAIL"], cfg["ADMIN_PASSWORD"], cfg["DIGEST_REALM"])
    if password:
        click.echo(f"first admin created: {cfg['ADMIN_EMAIL']} with password {password}  (shown once; keep it)")
    click.echo(f"project {report.project_id}: {ctx.store.get_project(report.project_id)['name']}")
    config_module.secret_key(cfg, ctx.store)   # made here, before any server worker starts and needs it
    return report


@main.command(help="Set everything up (as init) and serve HTTP with Granian on PPA_HOST:PPA_PORT.")
@pass_ctx
def serve(ctx: Context) -> None:
    from . import serve_guard
    cfg = ctx.config
    try:
        lock = serve_guard.claim(cfg)   # held until the server stops; its workers inherit it
    except serve_guard.Refused as exc:
        _fail(str(exc))
    _init(ctx)
    from .wsgi import run
    click.echo(f"serving on http://{cfg['HOST']}:{cfg['PORT']} (public URL {cfg['PUBLIC_URL']})")
    run(cfg)
    lock.release()


# -- projects --------------------------------------------------------------------

@main.group(help="Projects hold forms, devices and lists.")
def project() -> None:
    pass


@project.command("add", help="Create a project.")
@click.argument("name")
@pass_ctx
def project_add(ctx: Context, name: str) -> None:
    if ctx.store.project_by_name(name):
        _fail(f"a project named {name!r} exists already")
    created = ctx.store.create_project(name)
    for list_name, columns in lists.LISTS.items():
        ctx.store.ensure_list(created["id"], list_name, columns)
    ctx.store.upsert_list_items(created["id"], "clusters.csv", lists.seed_clusters(), source="registry")
    ctx.store.audit("cli", "project.create", str(created["id"]), {"name": name})
    click.echo(json.dumps({"id": created["id"], "name": name}))


@project.command("list", help="List projects.")
@pass_ctx
def project_list(ctx: Context) -> None:
    for row in ctx.store.list_projects():
        click.echo(json.dumps({"id": row["id"], "name": row["name"]}))


@project.command("settings", help="Show or change how a project's aggregates are computed; a change rebuilds them.")
@click.option("--project", "project_id", type=int, required=True)
@click.option("--tie", type=click.Choice(["average", "poorer", "better"]),
              help="Where a household whose mean level is exactly 1.5 or 2.5 goes.")
@click.option("--min-groups", type=int, help="Fewer informant groups than this flag a household for review.")
@click.option("--line-year", help="Reference year of the poverty lines, e.g. 2011-12.")
@click.option("--line-method", help="Method of the poverty lines, e.g. Tendulkar.")
@click.option("--short-minutes", help="Monitoring: an interview shorter than this many minutes is too short.")
@click.option("--outlier-k", help="Monitoring: an amount further than k scaled MADs from its cluster's median is an "
                                  "outlier.")
@click.option("--gps-far-m", help="Monitoring: a point further than this many metres from its hamlet's is far.")
@click.option("--unknown-share", help="Monitoring: an enumerator-day with a larger share (0-1) of don't know and "
                                      "refused answers stands out.")
@pass_ctx
def project_settings(ctx: Context, project_id: int, tie: str | None, min_groups: int | None, line_year: str | None,
                     line_method: str | None, short_minutes: str | None, outlier_k: str | None,
                     gps_far_m: str | None, unknown_share: str | None) -> None:
    from dataclasses import asdict

    from . import aggregates as agg
    from . import errors, monitoring
    from .catalog import FormCache
    if ctx.store.get_project(project_id) is None:
        _fail(f"no project {project_id}")
    settings = {**agg.DEFAULTS, **ctx.store.project_settings(project_id)}
    changes = {k: v for k, v in {"tie": tie, "min_groups": min_groups, "line_year": line_year,
                                 "line_method": line_method}.items() if v is not None}
    asked = {k: v for k, v in {"short_minutes": short_minutes, "outlier_k": outlier_k, "gps_far_m": gps_far_m,
                               "unknown_share": unknown_share}.items() if v is not None}
    thresholds = before = monitoring.Thresholds.of(ctx.store, project_id)
    if asked:   # the web form's rule: every threshold checked, the ones not given kept as they are
        try:
            thresholds = monitoring.Thresholds.parse({**{k: str(v) for k, v in asdict(before).items()}, **asked})
        except errors.Problem as problem:
            _fail(problem.message)
    if changes or asked:
        settings.update(changes)
        settings.update(thresholds.as_settings() if asked else {})
        ctx.store.set_project_settings(project_id, settings)
    if changes:
        agg.rebuild(ctx.store, FormCache(), project_id)
        ctx.store.audit("cli", "project.settings", str(project_id), changes)
    if asked:   # thresholds apply when the monitoring page is read: nothing to rebuild
        ctx.store.audit("cli", "project.monitoring_thresholds", str(project_id),
                        {"from": asdict(before), "to": asdict(thresholds)})
    click.echo(json.dumps(settings))


# -- devices ---------------------------------------------------------------------

@main.group(help="Phones running ODK Collect: each has its own revocable token.")
def device() -> None:
    pass


def _server_url(cfg: dict, token: str, project_id: int) -> str:
    return f"{cfg['PUBLIC_URL']}/v1/key/{token}/projects/{project_id}"


@device.command("add", help="Create a device; prints one JSON line with its server_url and token.")
@click.option("--project", "project_id", type=int, required=True)
@click.argument("name")
@pass_ctx
def device_add(ctx: Context, project_id: int, name: str) -> None:
    if ctx.store.get_project(project_id) is None:
        _fail(f"no project {project_id}")
    token = new_token()
    row = ctx.store.create_device(project_id, name, token, actor="cli")
    ctx.store.audit("cli", "device.create", str(row["id"]), {"project": project_id, "name": name})
    click.echo(json.dumps({"id": row["id"], "name": name, "project_id": project_id, "token": token,
                           "server_url": _server_url(ctx.config, token, project_id)}))


@device.command("revoke", help="Revoke a device by id or token; its next request gets 403.")
@click.argument("token_or_id")
@pass_ctx
def device_revoke(ctx: Context, token_or_id: str) -> None:
    row = ctx.store.get_device(int(token_or_id)) if token_or_id.isdigit() else ctx.store.device_by_token(token_or_id)
    if row is None:
        _fail(f"no device {token_or_id}")
    ctx.store.revoke_device(row["id"])
    ctx.store.audit("cli", "device.revoke", str(row["id"]))
    click.echo(json.dumps({"id": row["id"], "name": row["name"], "revoked": True}))


@device.command("list", help="List devices (tokens are not shown).")
@click.option("--project", "project_id", type=int)
@pass_ctx
def device_list(ctx: Context, project_id: int | None) -> None:
    for row in ctx.store.list_devices(project_id):
        click.echo(json.dumps({k: row[k] for k in ("id", "project_id", "name", "created_at", "last_seen_at",
                                                    "revoked_at")}))


@device.command("qr", help="Print the device's setup QR code in the terminal (and write it as PNG with --png).")
@click.argument("device_id", type=int)
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write a PNG here.")
@click.option("--json", "as_json", is_flag=True, help="Print the settings JSON and payload instead of the code.")
@pass_ctx
def device_qr(ctx: Context, device_id: int, png_path: Path | None, as_json: bool) -> None:
    from . import qr
    row = ctx.store.get_device(device_id)
    if row is None:
        _fail(f"no device {device_id}")
    if row["revoked_at"]:
        _fail(f"device {device_id} is revoked; create a new one")
    project = ctx.store.get_project(row["project_id"])
    settings = qr.device_settings(_server_url(ctx.config, row["token"], project["id"]), project["name"])
    payload = qr.encode(settings)
    if png_path:
        png_path.write_bytes(qr.png(payload))
    if as_json:
        click.echo(json.dumps({"settings": settings, "payload": payload}))
        return
    click.echo(qr.terminal(payload))
    click.echo(f"{row['name']} · {project['name']} · scan in ODK Collect: Add project -> Scan QR code")


# -- forms -----------------------------------------------------------------------

@main.group(help="Publish forms and open, close or retire them.")
def form() -> None:
    pass


@form.command("publish", help="Publish an XLSForm (.xlsx) or XForm (.xml) as a new version in a project.")
@click.option("--project", "project_id", type=int, required=True)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def form_publish(ctx: Context, project_id: int, path: Path) -> None:
    try:
        result = catalog.publish(ctx.store, project_id, path.read_bytes(), path.name, actor="cli")
    except (catalog.FormBuildError, errors.Problem) as exc:
        _fail(str(exc))
    click.echo(json.dumps({"form_id": result.form_id, "version": result.version, "hash": result.hash,
                           "published": result.created}))


@form.command("list", help="List a project's forms with their current version and state.")
@click.option("--project", "project_id", type=int, required=True)
@pass_ctx
def form_list(ctx: Context, project_id: int) -> None:
    for row in ctx.store.list_forms(project_id):
        click.echo(json.dumps({"form_id": row["xml_form_id"], "title": row["title"], "version": row["version"],
                               "state": row["state"], "hash": row["hash"],
                               "submissions": ctx.store.count_submissions(row["id"])}))


@form.command("state", help="open: listed and accepting; closing: hidden from phones, still accepting; "
                            "closed: refuses submissions.")
@click.option("--project", "project_id", type=int, required=True)
@click.argument("form_id")
@click.argument("state", type=click.Choice(["open", "closing", "closed"]))
@pass_ctx
def form_state(ctx: Context, project_id: int, form_id: str, state: str) -> None:
    row = ctx.store.get_form(project_id, form_id)
    if row is None:
        _fail(f"no form {form_id} in project {project_id}")
    ctx.store.set_form_state(row["id"], state)
    ctx.store.audit("cli", "form.state", f"{project_id}/{form_id}", {"state": state})
    click.echo(json.dumps({"form_id": form_id, "state": state}))


# -- lists -----------------------------------------------------------------------

@main.group(name="lists", help="Server-managed CSV lists (clusters, hamlets, households, nodes).")
def lists_group() -> None:
    pass


@lists_group.command("import", help="Add (or with --update, also change) the items of a CSV list.")
@click.option("--project", "project_id", type=int, required=True)
@click.option("--update", is_flag=True, help="Also update items whose name exists already.")
@click.argument("list_name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def lists_import(ctx: Context, project_id: int, update: bool, list_name: str, path: Path) -> None:
    try:
        columns, items = lists.read_csv(path.read_bytes(), list_name)
    except lists.ListFileError as exc:
        _fail(str(exc))
    if ctx.store.list_columns(project_id, list_name) is None:
        ctx.store.ensure_list(project_id, list_name, columns)
    changed = ctx.store.upsert_list_items(project_id, list_name, items, source=f"import:{path.name}", replace=update)
    ctx.store.audit("cli", "list.import", f"{project_id}/{list_name}", {"rows": len(items), "changed": changed})
    click.echo(json.dumps({"list": list_name, "rows": len(items), "changed": changed}))


@lists_group.command("export", help="Print a list as the CSV phones receive.")
@click.option("--project", "project_id", type=int, required=True)
@click.argument("list_name")
@pass_ctx
def lists_export(ctx: Context, project_id: int, list_name: str) -> None:
    columns = ctx.store.list_columns(project_id, list_name)
    if columns is None:
        _fail(f"no list {list_name} in project {project_id}")
    sys.stdout.buffer.write(lists.render_served(columns, ctx.store.list_items(project_id, list_name)))


# -- users -----------------------------------------------------------------------

@main.group(help="Web users: admin, manager, nda, researcher.")
def user() -> None:
    pass


@user.command("add", help="Create a user; the password is read from standard input.")
@click.option("--role", type=click.Choice(bootstrap.ROLES), required=True)
@click.option("--email", required=True)
@click.option("--project", "project_id", type=int, help="The project the user belongs to (all but admins).")
@click.option("--cluster", "clusters", multiple=True, help="A cluster an NDA reviews (repeat for several).")
@pass_ctx
def user_add(ctx: Context, role: str, email: str, project_id: int | None, clusters: tuple[str, ...]) -> None:
    password = sys.stdin.readline().rstrip("\n")
    if ctx.store.user_by_email(email):
        _fail(f"a user {email} exists already")
    if role != "admin" and project_id is None:
        _fail("give --project: every user but an admin belongs to a project")
    if project_id is not None and ctx.store.get_project(project_id) is None:
        _fail(f"no project {project_id}")
    if role == "nda" and not clusters:
        _fail("give at least one --cluster: an NDA sees only the clusters assigned to them")
    try:
        row = bootstrap.create_user(ctx.store, email, role, password, ctx.config["DIGEST_REALM"])
    except ValueError as exc:
        _fail(str(exc))
    if project_id is not None:
        ctx.store.add_membership(row["id"], project_id, clusters if role == "nda" else ())
    click.echo(json.dumps({"id": row["id"], "email": email, "role": role, "project_id": project_id,
                           "clusters": list(clusters)}))


@user.command("disable", help="Disable a user: their sessions and API tokens stop working at once.")
@click.option("--email", required=True)
@pass_ctx
def user_disable(ctx: Context, email: str) -> None:
    row = _user(ctx, email)
    ctx.store.disable_user(row["id"])
    ctx.store.audit("cli", "user.disable", email)
    click.echo(json.dumps({"email": email, "disabled": True}))


@user.command("password", help="Set a user's password, read from standard input; every session of theirs ends.")
@click.option("--email", required=True)
@pass_ctx
def user_password(ctx: Context, email: str) -> None:
    row = _user(ctx, email)
    password = sys.stdin.readline().rstrip("\n")
    try:
        bootstrap.set_password(ctx.store, row, password, ctx.config["DIGEST_REALM"])
    except ValueError as exc:
        _fail(str(exc))
    ctx.store.audit("cli", "user.password_reset", email)
    click.echo(json.dumps({"email": email, "password_set": True, "sessions_ended": True}))


@main.group(help="API tokens for researchers' scripts (shown once, stored hashed).")
def token() -> None:
    pass


@token.command("create", help="Create an API token for a user; prints it once.")
@click.option("--email", required=True)
@click.option("--label", default=None, help="What the token is for, e.g. 'R scripts on laptop'.")
@pass_ctx
def token_create(ctx: Context, email: str, label: str | None) -> None:
    from .api import hash_token
    row = _user(ctx, email)
    secret = new_token()
    ctx.store.create_api_token(row["id"], hash_token(secret), label)
    ctx.store.audit("cli", "token.create", email, {"label": label})
    click.echo(json.dumps({"email": email, "token": secret, "label": label}))


@token.command("revoke", help="Revoke every API token of a user.")
@click.option("--email", required=True)
@pass_ctx
def token_revoke(ctx: Context, email: str) -> None:
    row = _user(ctx, email)
    ctx.store.revoke_api_tokens(row["id"])
    ctx.store.audit("cli", "token.revoke", email)
    click.echo(json.dumps({"email": email, "revoked": True}))


@main.group(help="Aggregates kept at ingest (well-being counts, income poverty sums).")
def aggregates() -> None:
    pass


@aggregates.command("rebuild", help="Recompute a project's aggregates and monitoring facts from the raw XML, and "
                                    "its submissions' OData bodies from their typed rows; --check compares the "
                                    "aggregates, the well-being transitions and the monitoring facts with what "
                                    "ingest kept and fails on any difference.")
@click.option("--project", "project_id", type=int, required=True)
@click.option("--check", is_flag=True)
@pass_ctx
def aggregates_rebuild(ctx: Context, project_id: int, check: bool) -> None:
    from . import aggregates as agg
    from . import monitoring
    from .catalog import FormCache
    from .central import odata_entities
    before = ctx.store.aggregate_snapshot(project_id)
    counts = agg.rebuild(ctx.store, FormCache(), project_id)
    monitored = monitoring.rebuild(ctx.store, FormCache(), project_id)
    entities = odata_entities.rebuild(ctx.store, FormCache(), project_id)
    after = ctx.store.aggregate_snapshot(project_id)
    differ = sorted(t for t in after if before.get(t) != after[t])
    click.echo(json.dumps({"project": project_id, "submissions": counts, "monitoring_facts": monitored,
                           "odata_entities": entities, "identical": not differ, "tables_differing": differ}))
    if check and differ:
        sys.exit(1)


from .analyse_cli import analyse  # noqa: E402  (commands defined in their own modules)
from .backup_cli import COMMANDS as BACKUP_COMMANDS  # noqa: E402
from .export_cli import export  # noqa: E402

main.add_command(analyse)
main.add_command(export)
for command in BACKUP_COMMANDS:
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
