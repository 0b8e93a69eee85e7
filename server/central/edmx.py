"""A form's structure as Central describes it: the field list (GET .../fields?odata=true), the OData service
document and the $metadata EDMX document (lib/data/schema.js getFormFields, lib/formats/odata.js). Pure.

The field list is read from the published form itself: every node of the primary instance in document order,
a node with children being a "structure" (a group) or a "repeat", a leaf taking its bind's type (select_one is a
string; select_multiple a string with selectMultiple true; an upload is "binary").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from ..xforms import XF, children, local

TYPES = {"int": "Edm.Int64", "decimal": "Edm.Decimal", "boolean": "Edm.Boolean", "geopoint": "Edm.GeographyPoint",
         "geotrace": "Edm.GeographyLineString", "geoshape": "Edm.GeographyPolygon", "date": "Edm.Date",
         "dateTime": "Edm.DateTimeOffset"}


@dataclass(frozen=True)
class CentralField:
    path: str            # /mod_a/a_place/cluster (without the root element, as Central writes it)
    name: str
    type: str            # structure, repeat, or the bind's type
    binary: bool | None
    select_multiple: bool | None

    def json(self) -> dict:
        return {"path": self.path, "name": self.name, "type": self.type, "binary": self.binary,
                "selectMultiple": self.select_multiple}


def sanitize(name: str) -> str:
    """Central's sanitizeOdataIdentifier: an OData identifier starts with a letter or _ and holds [A-Za-z0-9_]."""
    return re.sub(r"[^a-z0-9_]+", "_", re.sub(r"^([^a-z_])", r"_\1", name, flags=re.I), flags=re.I)


def form_fields(xml: bytes) -> list[CentralField]:
    """The fields of a published (trusted) XForm, in document order."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    model = root.find(f".//{{{XF}}}model")
    primary = next(children(model.find(f"{{{XF}}}instance")))
    binds = {b.get("nodeset"): b for b in model.iter(f"{{{XF}}}bind")}
    body = root.find("{http://www.w3.org/1999/xhtml}body")
    repeats = {r.get("nodeset") for r in body.iter(f"{{{XF}}}repeat")} if body is not None else set()
    multiple = {el.get("ref") for el in body.iter(f"{{{XF}}}select")} if body is not None else set()
    top = "/" + local(primary.tag)
    out: list[CentralField] = []

    def walk(node, path: str) -> None:
        seen: set[str] = set()
        for child in children(node):
            name = local(child.tag)
            full = f"{path}/{name}"
            if full in seen:   # a repeat's template followed by its instances: one field
                continue
            seen.add(full)
            short = full[len(top):]
            if full in repeats or any(isinstance(c.tag, str) for c in child):
                out.append(CentralField(short, name, "repeat" if full in repeats else "structure", None, None))
                walk(child, full)
                continue
            bind = binds.get(full)
            kind = (bind.get("type") if bind is not None else None) or "string"
            kind = kind.split(":", 1)[1] if kind.startswith(("xsd:", "odk:")) else kind
            kind = {"select1": "string", "select": "string", "integer": "int"}.get(kind, kind)
            out.append(CentralField(short, name, kind, True if kind == "binary" else None,
                                    True if full in multiple else None))

    walk(primary, top)
    return out


def tables(fields: list[CentralField]) -> list[str]:
    """The entity sets: Submissions, then one per repeat named by its path joined with dots."""
    return ["Submissions"] + ["Submissions." + ".".join(sanitize(p) for p in f.path[1:].split("/"))
                              for f in fields if f.type == "repeat"]


def service_document(fields: list[CentralField], service_url: str) -> dict:
    return {"@odata.context": f"{service_url}/$metadata",
            "value": [{"name": t, "kind": "EntitySet", "url": t} for t in tables(fields)]}


_SYSTEM_SCHEMA = """<?xml version="1.0" encoding="UTF-8"?>
<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">
  <edmx:DataServices>
    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="org.opendatakit.submission">
      <ComplexType Name="metadata">
        <Property Name="submissionDate" Type="Edm.DateTimeOffset"/>
        <Property Name="updatedAt" Type="Edm.DateTimeOffset"/>
        <Property Name="deletedAt" Type="Edm.DateTimeOffset"/>
        <Property Name="submitterId" Type="Edm.String"/>
        <Property Name="submitterName" Type="Edm.String"/>
        <Property Name="attachmentsPresent" Type="Edm.Int64"/>
        <Property Name="attachmentsExpected" Type="Edm.Int64"/>
        <Property Name="status" Type="org.opendatakit.submission.Status"/>
        <Property Name="reviewState" Type="org.opendatakit.submission.ReviewState"/>
        <Property Name="deviceId" Type="Edm.String"/>
        <Property Name="edits" Type="Edm.Int64"/>
        <Property Name="formVersion" Type="Edm.String"/>
      </ComplexType>
      <EnumType Name="Status">
        <Member Name="notDecrypted"/>
        <Member Name="missingEncryptedFormData"/>
      </EnumType>
      <EnumType Name="ReviewState">
        <Member Name="hasIssues"/>
        <Member Name="edited"/>
        <Member Name="rejected"/>
        <Member Name="approved"/>
      </EnumType>
    </Schema>
"""
_ANNOTATIONS = """          <Annotation Term="Org.OData.Capabilities.V1.ConformanceLevel" EnumMember="Org.OData.Capabilities.V1.ConformanceLevelType/Minimal"/>
          <Annotation Term="Org.OData.Capabilities.V1.BatchSupported" Bool="false"/>
          <Annotation Term="Org.OData.Capabilities.V1.CountRestrictions">
            <Record><PropertyValue Property="Countable" Bool="true"/></Record>
          </Annotation>
          <Annotation Term="Org.OData.Capabilities.V1.FilterFunctions">
            <Record>
              <PropertyValue Property="NonCountableProperties">
                <Collection>
                  <String>eq</String>
                </Collection>
              </PropertyValue>
            </Record>
          </Annotation>
          <Annotation Term="Org.OData.Capabilities.V1.FilterFunctions">
            <Record>
              <PropertyValue Property="Filterable" Bool="true"/>
              <PropertyValue Property="RequiresFilter" Bool="false"/>
              <PropertyValue Property="NonFilterableProperties">
                <Collection>
{paths}
                </Collection>
              </PropertyValue>
            </Record>
          </Annotation>
          <Annotation Term="Org.OData.Capabilities.V1.SortRestrictions">
            <Record><PropertyValue Property="Sortable" Bool="false"/></Record>
          </Annotation>
          <Annotation Term="Org.OData.Capabilities.V1.ExpandRestrictions">
            <Record><PropertyValue Property="Expandable" Bool="false"/></Record>
          </Annotation>
"""


@dataclass
class _Type:
    name: str
    path: str | None
    entity: bool
    properties: list[tuple[str, str, bool]]   # (name, type, navigation)


def metadata(xml_form_id: str, fields: list[CentralField]) -> str:
    """The EDMX document: groups as complex types, each repeat an entity type with its parent's key."""
    base = f"org.opendatakit.user.{sanitize(xml_form_id)}"
    submissions = _Type("Submissions", None, True, [])
    entities, complexes, stack = [submissions], [], [submissions]
    for f in fields:
        while stack[-1].path is not None and not f.path.startswith(stack[-1].path + "/"):
            stack.pop()
        holder = stack[-1]
        name = sanitize(f.name)
        if f.type in ("structure", "repeat"):
            type_name = ".".join(sanitize(p) for p in f.path[1:].split("/"))
            if f.type == "structure":
                bag = _Type(type_name, f.path, False, [])
                complexes.append(bag)
                holder.properties.append((name, f"{base}.{type_name}", False))
            else:
                parent = next((t for t in reversed(stack) if t.entity and t.path is not None), None)
                parts = ["Submissions"] + ([".".join(sanitize(p) for p in parent.path[1:].split("/"))
                                            .replace(".", "-")] if parent else [])
                bag = _Type(f"Submissions.{type_name}", f.path, True, [(f"__{'-'.join(parts)}-id", "Edm.String",
                                                                       False)])
                entities.append(bag)
                holder.properties.append((name, f"Collection({base}.Submissions.{type_name})", True))
            stack.append(bag)
        else:
            holder.properties.append((name, TYPES.get(f.type, "Edm.String"), False))
    out = [_SYSTEM_SCHEMA, f'    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace={quoteattr(base)}>\n']
    for t in entities:
        out.append(f"      <EntityType Name={quoteattr(t.name)}>\n        <Key><PropertyRef Name=\"__id\"/></Key>\n"
                   '        <Property Name="__id" Type="Edm.String"/>\n')
        if t is submissions:
            out.append('        <Property Name="__system" Type="org.opendatakit.submission.metadata"/>\n')
        out += _properties(t)
        out.append("      </EntityType>\n")
    for t in complexes:
        out.append(f"      <ComplexType Name={quoteattr(t.name)}>\n")
        out += _properties(t)
        out.append("      </ComplexType>\n")
    out.append(f"      <EntityContainer Name={quoteattr(xml_form_id)}>\n")
    for t in entities:
        out.append(f"        <EntitySet Name={quoteattr(t.name)} EntityType={quoteattr(base + '.' + t.name)}>\n")
        if t is submissions:
            paths = "\n".join(f"                  <PropertyPath>{escape(n)}</PropertyPath>"
                              for n, _, _ in t.properties)
            out.append(_ANNOTATIONS.replace("{paths}", paths))
        out.append("        </EntitySet>\n")
    out.append("      </EntityContainer>\n    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>")
    return "".join(out)


def _properties(t: _Type) -> list[str]:
    return [f"        <{'NavigationProperty' if nav else 'Property'} Name={quoteattr(n)} Type={quoteattr(kind)}/>\n"
            for n, kind, nav in t.properties]
