#!/usr/bin/python3
"""Validate JSON messages, one per line on stdin, against a JSON Schema
(draft 2020-12).

    /usr/bin/python3 tools/schema_check.py SCHEMA.json < messages.jsonl

Exits 0 when every line validates (and there was at least one, unless
--allow-empty), 1 when one does not (each failure is printed with its line
number and the JSON path of the offending value), 2 on a usage error or an
invalid schema. Uses Debian's python3-jsonschema (4.10).
"""
import json
import sys

from jsonschema import Draft202012Validator


def main(argv):
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
