"""A fast yes/no check compiled from a JSON Schema, in front of jsonschema (bench/profile.py: validation was one of
the largest costs of a request).

`compile_check(schema)` turns the keywords this project's schemas use into nested Python closures that answer only
"valid?". The registry asks it first: a valid body (the common case) is done; an invalid one goes to jsonschema, which
words the violations exactly as before. A schema with a keyword the compiler does not know gets no fast check at all,
so the fast path can only ever skip work, never change an answer; tests/core/test_fastcheck.py compares the two on
generated bodies for every schema.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that never assert anything (annotations, and `format`, which jsonschema does not assert without a
# FormatChecker, as the registry builds it).
_IGNORED = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "errorMessage", "default",
                      "examples", "format", "deprecated", "readOnly", "writeOnly"})


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not implement: no fast check for it."""


def _is_type(value: Any, name: str) -> bool:
    # jsonschema's draft 2020-12 type checker: booleans are not numbers; 1.0 is an integer.
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise Unsupported(f"type {name!r}")


def _equal(a: Any, b: Any) -> bool:
    # JSON equality as jsonschema has it for enum/const: 1 == 1.0, but True != 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def compile_check(schema: Any) -> Check:
    """The fast check of `schema`, or Unsupported."""
    if schema is True:
        return lambda _v: True
    if schema is False:
        return lambda _v: False
    if not isinstance(schema, dict):
        raise Unsupported("not a schema")
    unknown = set(schema) - _IGNORED - set(_KEYWORDS)
    if unknown:
        raise Unsupported(", ".join(sorted(unknown)))
    checks = [_KEYWORDS[k](schema[k], schema) for k in schema if k in _KEYWORDS]
    checks = [c for c in checks if c is not None]
    if not checks:
        return lambda _v: True
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    # Plain calls and loops, not all() over a generator: this runs for every node of every request body.
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def check(v: Any) -> bool:
        for c in checks:
            if not c(v):
                return False
        return True

    return check


# Python types of the JSON types whose test is a plain isinstance (number and integer need more, see _type).
_PLAIN_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "object": (dict,), "array": (list,),
                                              "null": (type(None),), "boolean": (bool,)}


def _type(value: Any, _schema: dict) -> Check:
    names = value if isinstance(value, list) else [value]
    for name in names:
        _is_type(None, name)  # refuses unknown names now
    plain = tuple(t for n in names for t in _PLAIN_TYPES.get(n, ()))
    if "integer" in names and "number" not in names:
        return lambda v: any(_is_type(v, n) for n in names)  # 1.0 is an integer: rare, keep the general test
    if "number" in names:
        numbers = plain + (int, float)
        if "boolean" in names:
            return lambda v: isinstance(v, numbers)
        # bool is an int in Python, not a number in JSON.
        return lambda v: isinstance(v, numbers) and v.__class__ is not bool
    return lambda v: isinstance(v, plain)


def _properties(value: dict, _schema: dict) -> Check:
    props = {k: compile_check(s) for k, s in value.items()}

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        # Walk the instance's members (a few) rather than the schema's (often many more).
        for k, x in v.items():
            c = props.get(k)
            if c is not None and not c(x):
                return False
        return True

    return check


def _additional(value: Any, schema: dict) -> Check:
    known = set(schema.get("properties", {}))
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")
    check = compile_check(value)
    return lambda v: not isinstance(v, dict) or all(check(x) for k, x in v.items() if k not in known)


def _required(value: list, _schema: dict) -> Check:
    names = frozenset(value)
    return lambda v: not isinstance(v, dict) or names.issubset(v.keys())


def _enum(value: list, _schema: dict) -> Check:
    return lambda v: any(_equal(v, e) for e in value)


def _const(value: Any, _schema: dict) -> Check:
    return lambda v: _equal(v, value)


def _pattern(value: str, _schema: dict) -> Check:
    regex = re.compile(value)
    return lambda v: not isinstance(v, str) or regex.search(v) is not None


def _min_length(value: int, _schema: dict) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= value


def _max_length(value: int, _schema: dict) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _minimum(value: float, _schema: dict) -> Check:
    return lambda v: not _is_number(v) or v >= value


def _maximum(value: float, _schema: dict) -> Check:
    return lambda v: not _is_number(v) or v <= value


def _exclusive_minimum(value: float, _schema: dict) -> Check:
    return lambda v: not _is_number(v) or v > value


def _exclusive_maximum(value: float, _schema: dict) -> Check:
    return lambda v: not _is_number(v) or v < value


def _items(value: Any, _schema: dict) -> Check:
    if isinstance(value, list):
        raise Unsupported("items as an array")
    check = compile_check(value)

    def items(v: Any) -> bool:
        if isinstance(v, list):
            for x in v:
                if not check(x):
                    return False
        return True

    return items


def _min_items(value: int, _schema: dict) -> Check:
    return lambda v: not isinstance(v, list) or len(v) >= value


def _max_items(value: int, _schema: dict) -> Check:
    return lambda v: not isinstance(v, list) or len(v) <= value


def _min_properties(value: int, _schema: dict) -> Check:
    return lambda v: not isinstance(v, dict) or len(v) >= value


def _max_properties(value: int, _schema: dict) -> Check:
    return lambda v: not isinstance(v, dict) or len(v) <= value


def _property_names(value: Any, _schema: dict) -> Check:
    check = compile_check(value)
    return lambda v: not isinstance(v, dict) or all(check(k) for k in v)


def _all_of(value: list, _schema: dict) -> Check:
    return _all([compile_check(s) for s in value])


def _any_of(value: list, _schema: dict) -> Check:
    checks = [compile_check(s) for s in value]
    return lambda v: any(c(v) for c in checks)


def _one_of(value: list, _schema: dict) -> Check:
    checks = [compile_check(s) for s in value]
    return lambda v: sum(1 for c in checks if c(v)) == 1


def _not(value: Any, _schema: dict) -> Check:
    check = compile_check(value)
    return lambda v: not check(v)


def _if(value: Any, schema: dict) -> Check:
    condition = compile_check(value)
    then = compile_check(schema.get("then", True))
    otherwise = compile_check(schema.get("else", True))
    return lambda v: then(v) if condition(v) else otherwise(v)


def _handled_by_if(_value: Any, _schema: dict) -> None:
    return None  # `then` and `else` are evaluated by `if`; alone they assert nothing


def _ref(_value: Any, _schema: dict) -> Check:
    raise Unsupported("$ref left after inlining (recursive, or beside other keywords)")


_KEYWORDS: dict[str, Callable[[Any, dict], Check | None]] = {
    "type": _type, "properties": _properties, "additionalProperties": _additional, "required": _required,
    "enum": _enum, "const": _const, "pattern": _pattern, "minLength": _min_length, "maxLength": _max_length,
    "minimum": _minimum, "maximum": _maximum, "exclusiveMinimum": _exclusive_minimum,
    "exclusiveMaximum": _exclusive_maximum, "items": _items, "minItems": _min_items, "maxItems": _max_items,
    "minProperties": _min_properties, "maxProperties": _max_properties, "propertyNames": _property_names,
    "allOf": _all_of, "anyOf": _any_of, "oneOf": _one_of, "not": _not, "if": _if, "then": _handled_by_if,
    "else": _handled_by_if, "$ref": _ref,
}
