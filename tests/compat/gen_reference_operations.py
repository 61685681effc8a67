#!/usr/bin/env python3
"""Generate tests/compat/reference_operations.json: every operation of the Amigo Classic reference
document, as a list of {"method", "path", "operation_id"} sorted by path then method (method lowercase,
path as the reference spells it, parameter names included), one operation a line.

    python3 tests/compat/gen_reference_operations.py [--reference PATH] [--output PATH]

The reference (default ../shared/reference/amigo-classic-openapi.json next to the repository, or
$COMPADRE_REFERENCE_OPENAPI) lives outside the repository, so a clean clone (CI) does not have it: the
list is checked in, and tests/compat/test_every_operation.py reads only the list. Run this again when the
reference changes; `--check` exits 1 if the checked-in list differs from what the reference gives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(reference: dict) -> list[dict[str, str]]:
    ops = [
        {"method": method, "path": path, "operation_id": op.get("operationId", "")}
        for path, item in reference.get("paths", {}).items()
        for method, op in item.items()
        if method in METHODS
    ]
    return sorted(ops, key=lambda o: (o["path"], o["method"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=os.environ.get(
        "COMPADRE_REFERENCE_OPENAPI", str(REPO.parent / "shared" / "reference" / "amigo-classic-openapi.json")))
    parser.add_argument("--output", default=str(HERE / "reference_operations.json"))
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = parser.parse_args()

    with open(args.reference, encoding="utf-8") as f:
        ops = operations(json.load(f))
    # One operation a line: readable, and a change of the reference is a change of its lines.
    text = "[\n" + ",\n".join(" " + json.dumps(op) for op in ops) + "\n]\n"
    if args.check:
        current = Path(args.output).read_text(encoding="utf-8") if Path(args.output).exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{args.output}: {len(ops)} operations, up to date")
        return 0
    Path(args.output).write_text(text, encoding="utf-8")
    print(f"{args.output}: {len(ops)} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
