"""Marshmallow schemas: submissions validated against their XForm, and Collect settings for QR codes."""

from .xform import build_schema, check_list_values, schema_for

__all__ = ["build_schema", "check_list_values", "schema_for"]
