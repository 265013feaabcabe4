"""A compiled structural pre-check that accepts only what fhir.resources accepts.

fhir.resources (pydantic models with Python validators) costs 0.2-2 ms per
resource, several times the whole rest of a load. This module derives a JSON
Schema from the very same R4B model classes — element names, datatypes,
required elements, choice groups — and validates with `jsonschema-rs` (Rust),
at a few tens of microseconds per EOB.

The schema is deliberately *stricter* than fhir.resources wherever matching it
exactly would be hard (no nulls, no empty arrays or objects, no coercion of
"true" or "5", dates 1000-9999 with real calendar days, ids of at most 64
characters, URLs of a plain http(s) form, no `uuid`-typed values, contained
resources must name their type). So `accepts(r)` implies fhir.resources
accepts `r`; the converse does not hold and need not: whatever this does not
accept goes to fhir.resources for the verdict. tests/fhircache/
test_fastcheck_differential.py checks the implication on the real corpus and
on thousands of generated mutations of it.
"""

from __future__ import annotations

import hashlib
import os
import types
import typing
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import jsonschema_rs
import orjson

_YEAR = "[1-9][0-9]{3}"
_MONTH = "(0[1-9]|1[0-2])"
_DAY = "(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
_TZ = "(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_NON_BLANK = {"type": "string", "pattern": "\\S"}
# fhir_core's own year pattern (0001-9999): partial dates are checked by regex only
_ANY_YEAR = "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_PARTIAL_DATE = {"type": "string", "pattern": f"^{_ANY_YEAR}(-{_MONTH})?$"}
_FULL_DATE = {"type": "string", "pattern": f"^{_YEAR}-{_MONTH}-{_DAY}$", "format": "date"}
_INSTANT = {
    "type": "string",
    "pattern": f"^{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_TZ}$",
    "format": "date-time",
}

PRIMITIVES: dict[str, dict | bool] = {
    "boolean": {"type": "boolean"},
    "string": _NON_BLANK,
    "markdown": _NON_BLANK,
    "xhtml": _NON_BLANK,
    "code": {"type": "string", "pattern": "^[^\\s]+( [^\\s]+)*$"},
    "id": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
    "uri": {"type": "string", "pattern": "^\\S+$"},
    "canonical": {"type": "string", "pattern": "^\\S+$"},
    "url": {
        "type": "string",
        "pattern": "^https?://[A-Za-z0-9\\-]+(\\.[A-Za-z0-9\\-]+)*(:[0-9]{1,4})?(/[^\\s]*)?$",
    },
    "oid": {"type": "string", "pattern": "^urn:oid:[0-2](\\.(0|[1-9][0-9]*))+$"},
    "uuid": False,
    "base64Binary": {
        "type": "string",
        "minLength": 4,
        "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    },
    "integer": {"type": "integer", "minimum": -2147483648, "maximum": 2147483647},
    "integer64": {"type": "integer", "minimum": -(2**63) + 1, "maximum": 2**63 - 1},
    "unsignedInt": {"type": "integer", "minimum": 0, "maximum": 2147483647},
    "positiveInt": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    "decimal": {"type": "number"},
    "date": {"anyOf": [_PARTIAL_DATE, _FULL_DATE]},
    "dateTime": {"anyOf": [_PARTIAL_DATE, _FULL_DATE, _INSTANT]},
    "instant": _INSTANT,
    "time": {"type": "string", "pattern": f"^{_TIME}$"},
}
_FHIR_COMMENTS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
ANY_RESOURCE = "AnyResource"


def _primitive_name(annotation: object) -> str | None:
    """The FHIR primitive an `Annotated[...]` field type stands for."""
    if annotation is bool:
        return "boolean"
    for meta in getattr(annotation, "__metadata__", ()):
        name = getattr(meta, "__visit_name__", None)
        if name:
            return name
        cls_name = type(meta).__name__
        if cls_name == "UuidVersion":
            return "uuid"
    return None


def _unwrap(annotation: object) -> tuple[bool, object]:
    """(is a list, the element type) with Optional removed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        return False, annotation
    if origin in (list, typing.List):  # noqa: UP006 - both spellings occur in the models
        inner = typing.get_args(annotation)[0]
        _, element = _unwrap(inner)
        return True, element
    return False, annotation


class _Compiler:
    def __init__(self) -> None:
        self.defs: dict[str, dict] = {}
        self.resource_types: set[str] = set()

    def type_schema(self, element: object) -> dict | bool:
        primitive = _primitive_name(element)
        if primitive:
            return PRIMITIVES[primitive]
        if typing.get_origin(element) is typing.Annotated:
            base = typing.get_args(element)[0]
            if base is bool:
                return PRIMITIVES["boolean"]
        get_model = getattr(element, "get_model_klass", None)
        if get_model is None:
            return False  # a type we do not know: leave it to fhir.resources
        model = get_model()
        if model.__name__ in ("Resource", "DomainResource"):
            return {"$ref": f"#/$defs/{ANY_RESOURCE}"}
        return {"$ref": f"#/$defs/{self.model(model)}"}

    def model(self, cls: type) -> str:
        name = cls.__name__
        if name in self.defs:
            return name
        self.defs[name] = {}  # placeholder: recursion (Extension in Extension)
        properties: dict[str, object] = {}
        required: list[str] = []
        choices: dict[str, list[str]] = {}
        for field_name, field in cls.model_fields.items():
            key = field.alias or field_name
            if field_name == "fhir_comments":
                properties[key] = _FHIR_COMMENTS
                continue
            is_list, element = _unwrap(field.annotation)
            schema = self.type_schema(element)
            if is_list:
                schema = {"type": "array", "minItems": 1, "items": schema}
            properties[key] = schema
            extra = field.json_schema_extra or {}
            if field.is_required() or extra.get("element_required"):
                required.append(key)
            if extra.get("one_of_many"):
                group = choices.setdefault(extra["one_of_many"], [])
                group.append(key)
                if extra.get("one_of_many_required"):
                    choices.setdefault("__required__" + extra["one_of_many"], [])
        definition: dict[str, object] = {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": properties,
        }
        resource_type = getattr(cls, "__resource_type__", None)
        is_resource = hasattr(cls, "get_resource_type") and _is_resource_class(cls)
        if is_resource:
            properties["resourceType"] = {"const": resource_type}
            required.append("resourceType")
            self.resource_types.add(resource_type)
        if required:
            definition["required"] = required
        dependent: dict[str, object] = {}
        all_of: list[object] = []
        for group, keys in choices.items():
            if group.startswith("__required__"):
                continue
            for key in keys:
                others = [k for k in keys if k != key]
                if others:
                    dependent[key] = {"not": {"anyOf": [{"required": [k]} for k in others]}}
            if "__required__" + group in choices:
                all_of.append({"anyOf": [{"required": [k]} for k in keys]})
        if dependent:
            definition["dependentSchemas"] = dependent
        if all_of:
            definition["allOf"] = all_of
        self.defs[name] = definition
        return name


def _is_resource_class(cls: type) -> bool:
    return any(base.__name__ == "Resource" for base in cls.__mro__[1:]) or cls.__name__ in (
        "Resource",
    )


@cache
def compiled_schema() -> dict:
    """The JSON Schema of every R4B resource type, keyed by `$defs` name.

    Building it walks every R4B model class (about 10 s), so it is built once
    and kept on disk (see `schema_cache_path`); later processes load it in a
    fraction of a second.
    """
    path = schema_cache_path()
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        pass
    schema = build_schema()
    try:  # best effort: a read-only checkout still works, only slower to start
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(orjson.dumps(schema))
        os.replace(temporary, path)  # atomic: concurrent builders never see half a file
    except OSError:
        pass
    return schema


def schema_cache_path() -> Path:
    """Where the built schema is kept: keyed by the fhir.resources version and this
    module's source, so upgrading either builds a new one.

    `PAYERBRIDGE_CACHE_DIR`, else `.local/cache/` of the checkout (git-ignored;
    `make clean` removes it).
    """
    import fhir.resources

    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    version = getattr(fhir.resources, "__version__", "unknown")
    root = os.environ.get("PAYERBRIDGE_CACHE_DIR") or str(
        Path(__file__).resolve().parents[2] / ".local" / "cache"
    )
    return Path(root) / f"fastcheck-r4b-{version}-{source}.json"


def warm(resource_types: Iterable[str]) -> None:
    """Build the schema and these types' validators now (a worker does it at start)."""
    for resource_type in resource_types:
        validator(resource_type)


def build_schema() -> dict:
    """The schema, built from the R4B model classes (slow; see `compiled_schema`)."""
    import fhir.resources.R4B as r4b

    compiler = _Compiler()
    for resource_type in _all_resource_types(r4b):
        cls = r4b.get_fhir_model_class(resource_type)
        compiler.model(cls)
    compiler.defs[ANY_RESOURCE] = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"enum": sorted(compiler.resource_types)}},
        "allOf": [
            {
                "if": {"properties": {"resourceType": {"const": t}}},
                "then": {"$ref": f"#/$defs/{t}"},
            }
            for t in sorted(compiler.resource_types)
        ],
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": compiler.defs}


def _all_resource_types(r4b_module) -> list[str]:
    import importlib
    import pkgutil

    names = []
    for info in pkgutil.iter_modules(r4b_module.__path__):
        module = importlib.import_module(f"{r4b_module.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and getattr(value, "__resource_type__", None) == value.__name__
                and _is_resource_class(value)
                and value.__name__ not in ("Resource", "DomainResource")
            ):
                names.append(value.__name__)
    return sorted(set(names))


@cache
def validator(resource_type: str) -> jsonschema_rs.Validator | None:
    """The compiled validator of one resource type (about 0.1 s to build, then cached)."""
    schema = compiled_schema()
    if resource_type not in schema["$defs"] or resource_type not in _resource_types():
        return None
    return jsonschema_rs.validator_for(
        {**schema, "$ref": f"#/$defs/{resource_type}"}, validate_formats=True
    )


@cache
def _resource_types() -> frozenset[str]:
    return frozenset(compiled_schema()["$defs"][ANY_RESOURCE]["properties"]["resourceType"]["enum"])


def accepts(resource: dict) -> bool:
    """True only if fhir.resources (R4B) accepts `resource` too."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return False
    compiled = validator(resource_type)
    return compiled is not None and compiled.is_valid(resource)
