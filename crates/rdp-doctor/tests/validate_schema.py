#!/usr/bin/python3
"""Validates JSON documents against rdp-doctor's JSON Schemas (schemas/*.schema.json), offline.

Used by crates/rdp-doctor/tests/schemas.rs; needs Debian's python3-jsonschema (4.x, with
Draft 2020-12 support). Usage:

    validate_schema.py SCHEMA_DIR < cases.json

stdin holds a JSON array of cases, each {"name": ..., "schema": "check.schema.json" or
"check.schema.json#/$defs/local", "document": ...}. Every schema file in SCHEMA_DIR is first
checked against the 2020-12 meta-schema; then each document is validated. $ref between the
files resolves only to the files of SCHEMA_DIR: any other reference is an error, never a
download. stdout is one JSON array: {"name", "valid", "errors": ["/json/pointer: message", ...]}
per case. Exit 0 when the script ran (whatever the verdicts), 2 when it could not (bad schema,
bad input); the caller decides what a verdict means.
"""

import json
import pathlib
import sys
from urllib.parse import urljoin

try:
    import jsonschema
    from jsonschema import Draft202012Validator, RefResolver
except ImportError as e:  # the test must fail, not skip: say what is missing
    sys.stderr.write(
        f"validate_schema.py: cannot import jsonschema ({e}); install python3-jsonschema\n"
    )
    sys.exit(2)


class OfflineResolver(RefResolver):
    """A resolver that knows only the schema files it was given."""

    def resolve_remote(self, uri):
        raise jsonschema.exceptions.RefResolutionError(
            f"{uri} is not one of the local schema files; refusing to fetch it"
        )


def pointer(path):
    return "/" + "/".join(str(p) for p in path)


def short(message, limit=400):
    """A message without the whole offending document in it."""
    return message if len(message) <= limit else message[:limit] + "..."


def errors_of(validator, document):
    out = []
    for err in validator.iter_errors(document):
        # the deepest errors say most: descend into oneOf/anyOf/allOf contexts
        leaves = []
        stack = [err]
        while stack:
            e = stack.pop()
            if e.context:
                stack.extend(e.context)
            else:
                leaves.append(e)
        out.append(f"{pointer(err.absolute_path)}: {short(err.message)}")
        for leaf in leaves[:16]:
            if leaf is not err:
                out.append(f"    {pointer(leaf.absolute_path)}: {short(leaf.message)}")
    return out


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    schema_dir = pathlib.Path(sys.argv[1]).resolve()
    store = {}
    files = sorted(schema_dir.glob("*.schema.json"))
    if not files:
        sys.stderr.write(f"validate_schema.py: no *.schema.json in {schema_dir}\n")
        return 2
    for f in files:
        schema = json.loads(f.read_text(encoding="utf-8"))
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            sys.stderr.write(f"validate_schema.py: {f.name} is not a valid 2020-12 schema: {e}\n")
            return 2
        uri = f.as_uri()
        store[uri] = schema
        # $id (relative: the file name) resolves against the file's own URI
        if "$id" in schema:
            store[urljoin(uri, schema["$id"])] = schema

    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        ref = case["schema"]
        name, _, fragment = ref.partition("#")
        path = schema_dir / name
        if path.as_uri() not in store:
            sys.stderr.write(f"validate_schema.py: no schema file {name} in {schema_dir}\n")
            return 2
        root = {"$ref": path.as_uri() + ("#" + fragment if fragment else "")}
        # The resolver files its referrer under base_uri: a name that is no schema file.
        base = (schema_dir / "(validated document)").as_uri()
        resolver = OfflineResolver(base_uri=base, referrer=root, store=store)
        validator = Draft202012Validator(root, resolver=resolver)
        try:
            errs = errors_of(validator, case["document"])
        except jsonschema.exceptions.RefResolutionError as e:
            sys.stderr.write(f"validate_schema.py: {case['name']}: {e}\n")
            return 2
        results.append({"name": case["name"], "valid": not errs, "errors": errs})
    json.dump(results, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
