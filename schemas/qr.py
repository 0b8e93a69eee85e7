"""The ODK Collect settings a device-setup QR code carries (docs/protocol.md 7), checked before encoding.

Collect requires `general` and `admin`, drops unknown keys silently and resets every setting the
code does not carry, so a wrong key would fail quietly on the phone: validate here instead.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

UPDATE_MODES = ("manual", "previously_downloaded", "match_exactly")
AUTOSEND = ("off", "wifi_only", "cellular_only", "wifi_and_cellular")
PERIODS = ("every_fifteen_minutes", "every_one_hour", "every_six_hours", "every_24_hours")


class GeneralSchema(Schema):
    class Meta:
        unknown = RAISE

    server_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    username = fields.String()
    password = fields.String()
    form_update_mode = fields.String(validate=validate.OneOf(UPDATE_MODES))
    periodic_form_updates_check = fields.String(validate=validate.OneOf(PERIODS))
    automatic_update = fields.Boolean()
    autosend = fields.String(validate=validate.OneOf(AUTOSEND))
    delete_send = fields.Boolean()
    constraint_behavior = fields.String(validate=validate.OneOf(("on_swipe", "on_finalize")))


class AdminSchema(Schema):
    class Meta:
        unknown = RAISE

    admin_pw = fields.String()
    change_server = fields.Boolean()
    change_project_display = fields.Boolean()
    change_form_metadata = fields.Boolean()
    automatic_update = fields.Boolean()
    form_update_mode = fields.Boolean()
    periodic_form_updates_check = fields.Boolean()
    delete_saved = fields.Boolean()
    edit_saved = fields.Boolean()


class ProjectSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    icon = fields.String(validate=validate.Length(min=1, max=2))
    color = fields.String(validate=validate.Regexp(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"))


class CollectSettingsSchema(Schema):
    class Meta:
        unknown = RAISE

    general = fields.Nested(GeneralSchema, required=True)
    admin = fields.Nested(AdminSchema, required=True)
    project = fields.Nested(ProjectSchema)
