#!/usr/bin/python3
"""Validate JSON messages, one per line on stdin, against a JSON Schema
(draft 2020-12).

    /usr/bin/python3 tools/schema_check.py SCHEMA.json < messages.jsonl

Exits 0 when every line validates (and there was at least one, unless
--allow-empty), 1 when one does not (each failure is printed with its line
number and the JSON path of the offending value), 2 on a usage error or an
invalid schema. Uses Debian's python3-jsonschema (4.10).

    /usr/bin/python3 tools/schema_check.py --check-schemas SCHEMA.json...

checks the schema files themselves instead: each must be JSON, declare
"$schema": draft 2020-12, be a valid schema under that meta-schema, have an
"$id" (when it has one) ending in its own path from schema/, resolve every
"$ref" (among the files given, never over the network), and have every
"default" valid against the subschema it sits in. Prints one line per
problem, "FILE: what is wrong"; exits 0 when every file passes, 1 otherwise,
2 on a usage error.
"""
import json
import sys

from jsonschema import Draft202012Validator


DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def _walk(node, path=""):
    """Yields (json-pointer, subschema) for every object in a schema."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def check_schemas(files):
    """The --check-schemas mode: see the module's docstring."""
    from jsonschema import RefResolver
    from jsonschema.exceptions import RefResolutionError, SchemaError

    problems = []
    loaded = {}
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                loaded[name] = json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f"{name}: not readable as JSON: {e}")
    store = {s["$id"]: s for s in loaded.values()
             if isinstance(s, dict) and isinstance(s.get("$id"), str)}
    for name, schema in loaded.items():
        if not isinstance(schema, dict):
            problems.append(f"{name}: the schema is not an object")
            continue
        if schema.get("$schema") != DRAFT_2020_12:
            problems.append(f"{name}: \"$schema\" is {schema.get('$schema')!r}, not {DRAFT_2020_12!r}")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as e:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            problems.append(f"{name}: not a valid 2020-12 schema at {where}: {e.message}")
            continue
        sid = schema.get("$id")
        norm = name.replace("\\", "/")
        rel = norm[norm.rfind("schema/"):] if "schema/" in norm else None
        if rel and sid is not None and not (isinstance(sid, str) and sid.endswith("/" + rel)):
            problems.append(f"{name}: \"$id\" {sid!r} does not end with /{rel}")
        resolver = RefResolver.from_schema(schema, store=store)
        resolver.handlers = {"http": _no_network, "https": _no_network}
        for pointer, sub in _walk(schema):
            ref = sub.get("$ref")
            if isinstance(ref, str):
                try:
                    resolver.resolve(ref)
                except (RefResolutionError, LookupError, ValueError) as e:
                    problems.append(f"{name}: \"$ref\" {ref!r} at {pointer or '(root)'} does not resolve: {e}")
            if "default" in sub and pointer.rsplit("/", 1)[-1] != "properties":
                errors = list(Draft202012Validator(sub, resolver=resolver).iter_errors(sub["default"]))
                for error in errors:
                    problems.append(f"{name}: the default at {pointer or '(root)'} is invalid: {error.message}")
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(files)} schema file(s) valid (JSON Schema 2020-12)")
    return 1 if problems else 0


def _no_network(uri):
    raise LookupError(f"{uri} is not one of the schema files given (no network lookups)")


def main(argv):
    if len(argv) >= 2 and argv[1] == "--check-schemas":
        if len(argv) < 3:
            print(__doc__.strip(), file=sys.stderr)
            return 2
        return check_schemas(argv[2:])
    args = [a for a in argv[1:] if not a.startswith("--")]
    allow_empty = "--allow-empty" in argv
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
    except Exception as e:  # unreadable file, bad JSON, or a bad schema
        print(f"{args[0]}: invalid schema: {e}", file=sys.stderr)
        return 2
    validator = Draft202012Validator(schema)
    failures = 0
    count = 0
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        count += 1
        try:
            message = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"line {number}: not JSON: {e}")
            failures += 1
            continue
        for error in sorted(validator.iter_errors(message), key=lambda e: list(e.path)):
            path = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"line {number}: {path}: {error.message}")
            failures += 1
    if count == 0 and not allow_empty:
        print("no messages on stdin")
        return 1
    if failures == 0:
        print(f"{count} message(s) valid against {args[0]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
