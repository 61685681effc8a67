#!/usr/bin/env python3
"""Check Compadre's OpenAPI document (Sources/Server/Resources/openapi.json).

    python3 scripts/check-openapi.py [--document PATH] [--reference PATH]

Checks: the file is JSON; every $ref resolves; every operation has an operationId (unique),
a summary and responses; every {parameter} of a path template is declared as a required
path parameter and every declared path parameter appears in the template; every 429
response comes with x-rate-limit-per-minute on its operation; no prose from the reference
document survives (when the reference is found); and, when openapi-spec-validator is
importable, that the document validates as OpenAPI 3.1. Exits 1 on the first failed group.
"""

import argparse
import json
import os
import re
import sys

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def resolve(document, ref):
    if not ref.startswith("#/"):
        return None
    node = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node


def all_refs(node, where="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            elif key == "mapping" and isinstance(value, dict):
                for k, v in value.items():
                    yield f"{where}/mapping/{k}", v
            else:
                yield from all_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_refs(value, f"{where}/{i}")


def reference_prose(reference):
    """Every description/summary string of the reference (operations, parameters, schemas)."""
    found = []

    def walk(node, parent_key=None):
        if isinstance(node, dict):
            for key, value in node.items():
                # Inside "properties" keys are field names, not keywords.
                if parent_key != "properties" and key in ("description", "summary", "title") and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value, key)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(reference)
    return found


def sentences(text):
    for piece in re.split(r"(?<=[.!?])\s+|\n+", text):
        piece = piece.strip(" *#`-")
        # Prose only: identifiers such as schema titles are not sentences.
        if len(piece) >= 30 and len(piece.split()) >= 4:
            yield piece


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--document", default=os.path.join(root, "Sources", "Server", "Resources", "openapi.json"))
    parser.add_argument("--reference", default=os.environ.get(
        "COMPADRE_REFERENCE_OPENAPI",
        os.path.join(root, "..", "shared", "reference", "amigo-classic-openapi.json")))
    args = parser.parse_args()

    failures = []

    def check(group, problems):
        status = "ok" if not problems else f"FAILED ({len(problems)})"
        print(f"{group}: {status}")
        for p in problems[:20]:
            print(f"  - {p}")
        failures.extend(problems)

    with open(args.document, encoding="utf-8") as f:
        raw = f.read()
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as e:
        print(f"valid JSON: FAILED ({e})")
        return 1
    print("valid JSON: ok")

    check("every $ref resolves", [f"{where}: {ref}" for where, ref in all_refs(document)
                                  if resolve(document, ref) is None])

    problems, ids, operations = [], {}, []
    for path, item in document.get("paths", {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            operations.append((path, method, op))
            name = f"{method.upper()} {path}"
            for field in ("operationId", "summary", "responses"):
                if not op.get(field):
                    problems.append(f"{name}: no {field}")
            if op.get("operationId") in ids:
                problems.append(f"{name}: operationId {op['operationId']} also used by {ids[op['operationId']]}")
            ids[op.get("operationId")] = name
            for code, response in op.get("responses", {}).items():
                if "$ref" not in response and not response.get("description"):
                    problems.append(f"{name} {code}: no description")
    check(f"operations have operationId/summary/responses ({len(operations)} operations)", problems)

    problems = []
    for path, method, op in operations:
        name = f"{method.upper()} {path}"
        declared = {}
        for p in item_params(document, path) + op.get("parameters", []):
            if "$ref" in p:
                p = resolve(document, p["$ref"]) or {}
            if p.get("in") == "path":
                declared[p["name"]] = p
        template = re.findall(r"\{([^}]+)\}", path)
        for t in template:
            if t not in declared:
                problems.append(f"{name}: path parameter {{{t}}} is not declared")
            elif declared[t].get("required") is not True:
                problems.append(f"{name}: path parameter {t} is not required")
        for d in declared:
            if d not in template:
                problems.append(f"{name}: declared path parameter {d} is not in the template")
    check("path parameters match the path templates", problems)

    problems = []
    for path, method, op in operations:
        has_429 = "429" in op.get("responses", {})
        limit = op.get("x-rate-limit-per-minute")
        if has_429 and not (isinstance(limit, int) and limit > 0):
            problems.append(f"{method.upper()} {path}: 429 without x-rate-limit-per-minute")
        if limit is not None and not has_429:
            problems.append(f"{method.upper()} {path}: x-rate-limit-per-minute without a 429 response")
        for code, response in op.get("responses", {}).items():
            if code.startswith(("4", "5")):
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                want = "#/components/schemas/ValidationErrorBody" if code == "422" else "#/components/schemas/ErrorBody"
                if schema.get("$ref") != want:
                    problems.append(f"{method.upper()} {path} {code}: body is not {want}")
    check("error responses and rate limits", problems)

    if os.path.exists(args.reference):
        with open(args.reference, encoding="utf-8") as f:
            reference = json.load(f)
        # Every operation of the reference is served: by its own method and path (ids may be renamed).
        def shape(path):
            return re.sub(r"\{[^}]+\}", "{}", path)
        served = {(shape(path), method) for path, method, _ in operations}
        missing = [f"{method.upper()} {path} ({op.get('operationId')})"
                   for path, item in reference.get("paths", {}).items() for method, op in item.items()
                   if method in METHODS and (shape(path), method) not in served]
        check(f"every operation of the reference is served ({sum(1 for i in reference.get('paths', {}).values() for m in i if m in METHODS)})", missing)
        prose = reference_prose(reference)
        candidates = sorted({s for text in prose for s in sentences(text)})
        survivors = [s for s in candidates if s in raw or json.dumps(s)[1:-1] in raw]
        # Short whole strings too (titles, summaries), compared with our own texts exactly.
        ours = set()

        def collect(node, parent_key=None):
            if isinstance(node, dict):
                for key, value in node.items():
                    if parent_key != "properties" and key in ("description", "summary", "title") and isinstance(value, str):
                        ours.add(value.strip().lower())
                    else:
                        collect(value, key)
            elif isinstance(node, list):
                for value in node:
                    collect(value)

        collect(document)
        same = sorted({p for p in prose if p.strip().lower() in ours})
        check(f"no prose from the reference ({len(candidates)} sentences, {len(set(prose))} strings compared)",
              [f"sentence survives: {s[:100]}" for s in survivors] + [f"same text: {s[:100]}" for s in same])
    else:
        print(f"no prose from the reference: skipped ({args.reference} not found)")

    try:
        from openapi_spec_validator import validate
    except ImportError:
        try:
            from openapi_spec_validator import validate_spec as validate
        except ImportError:
            validate = None
    if validate is None:
        print("openapi-spec-validator: skipped (not installed)")
    else:
        try:
            validate(document)
            print("openapi-spec-validator (OpenAPI 3.1): ok")
        except Exception as e:  # noqa: BLE001 - report whatever the validator raises
            print(f"openapi-spec-validator (OpenAPI 3.1): FAILED\n  {str(e)[:2000]}")
            failures.append(str(e))

    print("all checks passed" if not failures else f"{len(failures)} problem(s)")
    return 0 if not failures else 1


def item_params(document, path):
    return list(document["paths"][path].get("parameters", []))


if __name__ == "__main__":
    sys.exit(main())
