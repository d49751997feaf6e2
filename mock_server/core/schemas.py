"""The schema registry: every JSON Schema under schemas/ loaded and compiled once, at start-up.

Violations come back typed by kind, each with the exact field path (`Phones[1]`, `destinations[0].to.phoneNumber`),
so each provider maps them to its own code (localstack's typed validation errors, stripe-mock's compile-once router).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urljoin

from jsonschema import Draft202012Validator

from .fastcheck import Check, Unsupported, compile_check
from .masking import mask_url
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

MAX_ERRORS = 100  # schema errors collected per validation

# Which kinds come first when a body has several problems: a missing field is reported before a wrong type of
# another, and so on, so the provider code a client sees does not depend on dict order.
_KIND_ORDER = {"required": 0, "type": 1, "enum": 2, "const": 2, "pattern": 3, "format": 3}


@dataclass(frozen=True, slots=True)
class Violation:
    path: str  # the field, e.g. "Phones[1]" or "messageData.text"; "" for the body itself
    kind: str  # the JSON Schema keyword that failed: required, type, enum, pattern, maxLength, ...
    message: str  # plain words, naming the field and the rule
    field: str  # the last name in the path ("Phones" for "Phones[1]"), for code tables keyed by field

    def __str__(self) -> str:
        return self.message


def format_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _to_violation(error: ValidationError) -> Violation:
    parts = list(error.absolute_path)
    kind = str(error.validator)
    if kind == "required":
        # jsonschema reports a missing member at its parent; name the missing member itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
        path = format_path(parts)
        return Violation(path, kind, f"{path} is required", missing)
    path = format_path(parts)
    names = [p for p in parts if isinstance(p, str)]
    field = names[-1] if names else ""
    where = path or "the body"
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if isinstance(custom, str):
        return Violation(path, kind, f"{where}: {custom}", field)
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Violation(path, kind, f"{where} must be of type {expected}, got {_json_type(error.instance)}", field)
    if kind == "additionalProperties":
        return Violation(path, kind, f"{where}: {error.message}", field)
    # jsonschema quotes the value ("'http://user:pass@host/...' is too long"): it reaches X-Mock-Reason, Infobip's
    # validationErrors and the journal, where a callback URL's password is masked.
    return Violation(path, kind, f"{where}: {mask_url(error.message)}", field)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class UnknownSchema(KeyError):
    pass


class SchemaRegistry:
    """Compiled validators by name: `esms/send_multiple_sms_ott.request` for schemas/esms/send_multiple_sms_ott.request.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        documents: dict[str, dict[str, Any]] = {}
        for path in sorted(root.rglob("*.json")):
            name = path.relative_to(root).with_suffix("").as_posix()
            documents[name] = json.loads(path.read_text(encoding="utf-8"))
        resources = [(doc["$id"], Resource.from_contents(doc)) for doc in documents.values() if "$id" in doc]
        registry: Registry = Registry().with_resources(resources)
        self.documents = documents
        self._validators = {}
        self._fast: dict[str, Check] = {}  # name -> compiled yes/no check, where the schema allows one
        for name, doc in documents.items():
            Draft202012Validator.check_schema(doc)
            base = doc.get("$id", "")
            inlined = _inline_refs(doc, registry, base, ())
            self._validators[name] = Draft202012Validator(inlined, registry=registry)
            try:
                self._fast[name] = compile_check(inlined)
            except Unsupported:
                pass

    def names(self) -> list[str]:
        return sorted(self._validators)

    def validate(self, name: str, instance: Any) -> list[Violation]:
        """Every violation of schema `name`, most relevant first (missing fields, then types, then values)."""
        try:
            validator = self._validators[name]
        except KeyError:
            raise UnknownSchema(name) from None
        fast = self._fast.get(name)
        if fast is not None and fast(instance):
            return []  # valid: jsonschema is needed only to word what is wrong (core/fastcheck.py)
        # Bounded: a 300 KB body of 100 000 bad array items would otherwise build 100 000 errors and hold the event
        # loop for seconds; the first few are all any provider reports.
        errors = list(itertools.islice(validator.iter_errors(instance), MAX_ERRORS))
        violations = [_to_violation(leaf) for e in errors for leaf in _leaves(e)]
        violations.sort(key=lambda v: (_KIND_ORDER.get(v.kind, 9), v.path))
        return violations


# Keywords that only annotate: a `$ref` whose other members are all of these can be replaced by its target.
_ANNOTATIONS = frozenset({"$ref", "description", "title", "$comment"})


def _inline_refs(node: Any, registry: Registry, base: str, stack: tuple[str, ...]) -> Any:
    """A copy of a schema with each plain `$ref` replaced by the subschema it points to, resolved once here.

    jsonschema resolves a `$ref` through the registry on every validation, which was the largest single cost of a
    request (bench/profile.py). The copy validates identically: the same keywords meet the same instance paths, and
    `error.schema` is the same subschema (its `errorMessage` included). A `$ref` with other assertions beside it, or
    one that recurses, is kept, made absolute so it still resolves from wherever it now sits."""
    if isinstance(node, list):
        return [_inline_refs(item, registry, base, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$id" in node and isinstance(node["$id"], str):
        base = urljoin(base, node["$id"])
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = urljoin(base, ref)
        if set(node) <= _ANNOTATIONS and target not in stack:
            resolved = registry.resolver(base_uri=base).lookup(ref)
            inner_base = resolved.resolver._base_uri  # the target's own document, for the refs inside it
            return _inline_refs(resolved.contents, registry, inner_base, stack + (target,))
        node = {**node, "$ref": target}
    return {key: (value if key in ("enum", "const") else _inline_refs(value, registry, base, stack))
            for key, value in node.items()}


def _leaves(error: ValidationError) -> list[ValidationError]:
    # For oneOf/anyOf failures the useful message is the best sub-error, not "is not valid under any of the given schemas"
    if error.context:
        from jsonschema.exceptions import best_match

        # A branch that fails on `type` is one the value was never meant for: when another branch's type fits and it
        # fails on something else (Infobip's validityPeriod 0: an integer under its minimum), that is what is wrong.
        # best_match named the string branch ("must be of type string, got number"). Only a `type` error about the
        # value itself says its branch does not fit: one deeper in it (latency_ms [1, "x"]: item 1 of the array branch)
        # is what is wrong with a value whose type fits.
        fitting = [e for e in error.context if e.validator != "type" or e.relative_path]
        best = best_match(fitting or error.context)
        if best is not None:
            return _leaves(best)
    return [error]
