#!/usr/bin/env python3
"""Writes split.json: eval.json's items split ~60/40 into a tuning part and a held-out part.

    python3 Benchmarks/decisions/make_split.py [--check]

Strata: action-state items by answer type (stay = `expected` names an action, leave = an exit condition),
decision-state items, active-memory items by `expected_needed`. In each stratum the ids are sorted,
shuffled with random.Random(f"{SEED}/{stratum}") and the first round(0.6 * n) go to tuning. New items
go through the same rule; since a grown stratum is reshuffled, rerunning may move old items, so when a
split has been used, add new items to split.json by the rule for the new items alone (and say so).
--check only verifies that split.json matches. Standard library only.
"""
import json, random, sys
from pathlib import Path

SEED = 14          # issue 14
TUNING_SHARE = 0.6
here = Path(__file__).parent


def stratum(item):
    if item["kind"] == "action-state":
        return "action-state/" + ("stay" if item["expected"] <= len(item["actions"]) else "leave")
    if item["kind"] == "active-memory":
        return "active-memory/" + ("needed" if item["expected_needed"] else "not-needed")
    return item["kind"]


def make_split(items):
    strata = {}
    for item in items:
        strata.setdefault(stratum(item), []).append(item["id"])
    split = {"tuning": [], "held_out": []}
    for name in sorted(strata):
        ids = sorted(strata[name])
        random.Random(f"{SEED}/{name}").shuffle(ids)
        k = round(TUNING_SHARE * len(ids))
        split["tuning"] += ids[:k]
        split["held_out"] += ids[k:]
    return split, {name: len(ids) for name, ids in strata.items()}


items = json.loads((here / "eval.json").read_text())
split, sizes = make_split(items)
if "--check" in sys.argv:
    ok = json.loads((here / "split.json").read_text()) == split
    print("split.json matches" if ok else "split.json differs from the rule")
    sys.exit(0 if ok else 1)
(here / "split.json").write_text(json.dumps(split, indent=1) + "\n")
for name, n in sorted(sizes.items()):
    t = sum(1 for i in split["tuning"] if stratum(next(x for x in items if x["id"] == i)) == name)
    print(f"{name:26} {n:3} items: {t:3} tuning, {n - t:3} held out")
print(f"{'total':26} {len(items):3} items: {len(split['tuning']):3} tuning, {len(split['held_out']):3} held out")
