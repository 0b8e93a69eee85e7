"""`ppa export`: a form's submissions as CSV zip, XLSX, JSON lines, raw XML zip, or Stata / SPSS zips
(server/exports.py, server/export_stats.py).

Registered on the `ppa` group by server/cli.py (`main.add_command(export)`). It opens the store from the
PPA_* settings itself, so this module does not import server.cli.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import cli_setup, errors, exports
from .catalog import FormCache


@click.command("export", help="Download a form's submissions: csv (a zip of one CSV per table), xlsx, jsonl "
                              "(one JSON object per submission, repeats nested), raw (the submitted XML and "
                              "files), dta or sav (a zip of one Stata or SPSS file per table, with codebook.csv; "
                              "needs the 'stats' extra). Dates are UTC days, both inclusive.")
@click.option("--project", "project_id", type=int, required=True, help="Project id.")
@click.option("--form", "form_id", required=True, help="Form id (e.g. household_income).")
@click.option("--format", "fmt", type=click.Choice(list(exports.FORMATS)), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write ('-' for standard output); default: <form>.<format suffix> here.")
@click.option("--from", "received_from", metavar="DATE", help="Received on or after (YYYY-MM-DD or ISO date-time).")
@click.option("--to", "received_to", metavar="DATE", help="Received on or before (YYYY-MM-DD or ISO date-time).")
@click.option("--cluster", "clusters", multiple=True, metavar="C", help="Only this cluster (repeatable).")
@click.option("--round", "round_no", type=int, metavar="N", help="Only this survey round.")
@click.option("--review-state", "review_states", multiple=True, type=click.Choice(exports.REVIEW_STATES),
              help="Only submissions in this review state (repeatable).")
@click.option("--labels", is_flag=True, help="Question labels as column headers (csv, xlsx).")
@click.option("--choice-labels", is_flag=True, help="Choice labels instead of choice values.")
@click.option("--media", is_flag=True, help="csv: add the attachments as media/<instanceID>/<file>.")
@click.option("--lang", metavar="LANG", help="Labels in this language of the form (e.g. hi, Hindi or 'Hindi (hi)'); "
                                             "a language the form lacks falls back to its default, with a warning.")
@click.option("--excel", is_flag=True, help="csv: start each file with a UTF-8 byte order mark, for Excel.")
def export(project_id: int, form_id: str, fmt: str, output: str | None, received_from: str | None,
           received_to: str | None, clusters: tuple[str, ...], round_no: int | None, review_states: tuple[str, ...],
           labels: bool, choice_labels: bool, media: bool, lang: str | None, excel: bool) -> None:
    store = cli_setup.store(cli_setup.settings())
    options = exports.ExportOptions(labels=labels, choice_labels=choice_labels, media=media, lang=lang, excel=excel)
    try:
        _export(store, project_id, form_id, fmt, output, received_from, received_to, clusters, round_no,
                review_states, options)
    finally:
        store.close()


def _export(store, project_id, form_id, fmt, output, received_from, received_to, clusters, round_no, review_states,
            options: exports.ExportOptions) -> None:
    if store.get_project(project_id) is None:
        known = ", ".join(f"{p['id']} ({p['name']})" for p in store.list_projects()) or "none"
        raise click.ClickException(f"There is no project {project_id}. Projects: {known}.")
    if store.get_form(project_id, form_id) is None:
        known = ", ".join(f["xml_form_id"] for f in store.list_forms(project_id)) or "none"
        raise click.ClickException(f"Project {project_id} has no form {form_id!r}. Its forms: {known}.")
    filters = exports.ExportFilters(
        received_from=received_from, received_to=received_to,
        clusters=frozenset(clusters) if clusters else None, round=round_no,
        review_states=frozenset(review_states) if review_states else None)
    try:
        if fmt in exports.STATS_FORMATS:
            exports.require_stats(fmt)
        plan = exports.prepare(store, FormCache(), project_id, form_id, filters, options)
    except errors.Problem as exc:
        raise click.ClickException(exc.message) from None
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    suffix = exports.FORMATS[fmt][0]
    target = output or f"{form_id}.{suffix}"
    show_progress = sys.stderr.isatty() and target != "-"
    total = exports.count_rows(plan) if show_progress else 0

    if target == "-":
        stream = sys.stdout.buffer
        for chunk in exports.WRITERS[fmt](plan):
            stream.write(chunk)
        stream.flush()
        return
    path = Path(target)
    partial = path.with_name(path.name + ".part")
    try:
        with open(partial, "wb") as handle:
            if show_progress:
                with click.progressbar(length=total, label=f"Exporting {form_id}", file=sys.stderr,
                                       show_pos=True) as bar:
                    plan.options.progress = bar.update
                    for chunk in exports.WRITERS[fmt](plan):
                        handle.write(chunk)
            else:
                for chunk in exports.WRITERS[fmt](plan):
                    handle.write(chunk)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)", err=True)
