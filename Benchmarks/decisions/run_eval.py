#!/usr/bin/env python3
"""Scores a model on Benchmarks/decisions/eval.json through any OpenAI-compatible /v1/chat/completions.

    python3 Benchmarks/decisions/run_eval.py --base-url http://127.0.0.1:8093/v1 [--model M] [--methods schema,logprobs]

Methods (each asks the same numbered question, shaped like the Engine's select-next-action / decide prompts):
  schema    `response_format: {"type":"json_object","schema":{"choice": enum}}`, temperature 0 (what the
            Engine does today; the schema form is llama-cpp-python's, other servers may need json_schema)
  logprobs  no schema, `max_tokens: 1, logprobs: true, top_logprobs: 20`; the answer is the option number
            with the highest log-probability among the first token's alternatives (none found = wrong)
Active-memory items are asked as "1. Yes / 2. No: does answering need these facts?".
Prints per-kind accuracy, the chance level and the mean latency; --out writes per-item results as JSON.
Standard library only.
"""
import argparse, collections, json, time, urllib.request
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--base-url", default="http://127.0.0.1:8093/v1")
ap.add_argument("--model", default="local")
ap.add_argument("--api-key", default="")
ap.add_argument("--methods", default="schema,logprobs")
ap.add_argument("--eval", default=str(Path(__file__).with_name("eval.json")))
ap.add_argument("--out")
args = ap.parse_args()


def chat(body):
    body = dict(body, model=args.model)
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    req = urllib.request.Request(args.base_url.rstrip("/") + "/chat/completions",
                                 data=json.dumps(body).encode(), headers=headers)
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read()), time.monotonic() - t0


def transcript(item):
    names = {"user": "User", "agent": "Agent", "event": "Event"}
    lines = [f"{names[m['role']]}: {m['text']}" for m in item["transcript"]]
    return "\n".join(lines) if lines else "(nothing yet)"


def question(item):
    """(system, user, option count, expected 1-based index)"""
    if item["kind"] == "action-state":
        system = ("You are Ava, an assistant. You are deciding what to do next in a conversation. "
                  f"Current objective: {item['objective']}")
        options = [f"Do now: {a}" for a in item["actions"]] + \
                  [f"Move on, because: {e}" for e in item["exit_conditions"]]
        ask = "Which option fits the conversation now? Answer with its number."
        expected = item["expected"]
    elif item["kind"] == "decision-state":
        system = f"You are Ava, an assistant. You are making a decision about a conversation. Objective: {item['objective']}"
        options = item["exit_conditions"]
        ask = "Answer with its number."
        expected = item["expected"]
    else:
        system = ("You are Ava, an assistant. Known facts about the user:\n" +
                  "\n".join(f"- {f}" for f in item["facts"]))
        options = ["Yes, the reply needs one of the known facts about the user",
                   "No, the reply needs none of the known facts about the user"]
        ask = "Does replying to the user's last message need any of the known facts? Answer with its number."
        expected = 1 if item["expected_needed"] else 2
    header = "Which statement is true now?\n" if item["kind"] == "decision-state" else "Options:\n"
    user = (f"Conversation so far:\n{transcript(item)}\n\n{header}" +
            "".join(f"{i}. {o}\n" for i, o in enumerate(options, 1)) + f"\n{ask}")
    return system, user, len(options), expected


def ask_schema(system, user, n):
    schema = {"type": "object", "properties": {"choice": {"type": "integer", "enum": list(range(1, n + 1))}},
              "required": ["choice"]}
    resp, dt = chat({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                     "temperature": 0, "max_tokens": 20, "response_format": {"type": "json_object", "schema": schema}})
    try:
        return int(json.loads(resp["choices"][0]["message"]["content"])["choice"]), dt
    except Exception:
        return None, dt


def ask_logprobs(system, user, n):
    resp, dt = chat({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                     "temperature": 0, "max_tokens": 1, "logprobs": True, "top_logprobs": 20})
    best = None
    for alt in resp["choices"][0]["logprobs"]["content"][0]["top_logprobs"]:
        tok = alt["token"].strip()
        if tok.isdigit() and 1 <= int(tok) <= n and (best is None or alt["logprob"] > best[1]):
            best = (int(tok), alt["logprob"])
    return (best[0] if best else None), dt


items = json.load(open(args.eval))
methods = {"schema": ask_schema, "logprobs": ask_logprobs}
results = []
summary = collections.defaultdict(lambda: {"n": 0, "correct": 0, "chance": 0.0, "latency": 0.0})
for item in items:
    system, user, n, expected = question(item)
    row = {"id": item["id"], "kind": item["kind"], "expected": expected}
    for m in args.methods.split(","):
        got, dt = methods[m](system, user, n)
        row[m] = got
        s = summary[(m, item["kind"])]
        s["n"] += 1; s["correct"] += got == expected; s["chance"] += 1 / n; s["latency"] += dt
    results.append(row)

for (m, kind), s in sorted(summary.items()):
    print(f"{m:9} {kind:15} {s['correct']:3}/{s['n']:<3} correct  (chance {s['chance']:.1f})  "
          f"mean {s['latency'] / s['n']:.2f} s/item")
for m in args.methods.split(","):
    picks = collections.Counter(r[m] for r in results if r["kind"] != "active-memory")
    print(f"{m:9} answers given (option number: count, decisions only): {dict(sorted(picks.items(), key=str))}")
if args.out:
    Path(args.out).write_text(json.dumps(results, indent=1))
