#!/usr/bin/env python3
"""Scores embedding-based decision strategies on a part of Benchmarks/decisions/eval.json (split.json).

    python3 Benchmarks/decisions/run_embedding_eval.py --part tuning --strategies sim,shortlist \
        --embed-url http://127.0.0.1:8094/v1 --llm-url http://127.0.0.1:8093/v1

The embeddings come from Compadre's speech server (`scripts/speech-server.py --engines embed`:
all-MiniLM-L6-v2 int8, unit vectors, so cosine = dot product); strategies that ask the language model call
an OpenAI-compatible /v1/chat/completions (the embedded SmolLM2-135M under llama-cpp-python) with prompts
worded like the Engine's (`Prompts.selectNextAction`, `Prompts.decide`) and the production schema
`{"reason", "choice"}` as `response_format: {"type": "json_object", "schema": …}`, temperature 0,
`repeat_penalty` 1.1 and the embedded model's stop strings.

--embed-cache FILE keeps every vector in FILE (JSON), so that strategies that also need the language model
can run with only one model server up: run `--precompute` with the embeddings server first (embeds every
text the strategies use for the part, scores nothing), stop it, start the language model server. Time per
decision is then the model time plus the embedding time measured in an uncached run.

Strategies (see embedding-strategy.md for the rules, the constants and the results):
  sim        (a) plain similarity: the option most similar to the new lines; action states leave when the
             best exit beats the best action by leave_margin
  sim-v2     (a') structured similarity: strong-exit / first-open-action / all-done rules (the chosen one)
  shortlist  (b) sim-v2 keeps its choice and runner-up, the language model picks one of the two
  override   (c) the language model on all options, replaced by sim-v2 when similarity is sure
  llm        the production prompt on all options, no similarity (baseline)
Active-memory items are decided by similarity in every strategy (max cos(fact, last user message)).
--set NAME=VALUE (JSON) overrides a constant of P, e.g. --set done_floor=0.25.
Prints accuracy per kind and overall (choice items and all items) and the time per decision (wall, of it in
embedding requests, of it in language-model calls).
numpy and the standard library (run it with the voice venv's python, which has numpy).
"""
import argparse, collections, json, re, sys, time, urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
NAMES = {"user": "User", "agent": "Agent", "event": "Event"}
EVENT_TIME = "2026-11-21T10:00:00Z"
LLM_PARAMS = {"temperature": 0, "repeat_penalty": 1.1, "max_tokens": 160,
              "stop": ["\nUser:", "(The user", "(the user", "\n\n\n"]}


# ------------------------------------------------------------------------------------------------ clients

class Embedder:
    def __init__(self, url, cache_path=None):
        self.url = url.rstrip("/") + "/embeddings" if url else None
        self.cache_path = Path(cache_path) if cache_path else None
        self.cache = {}
        if self.cache_path and self.cache_path.exists():
            self.cache = {k: np.array(v, dtype=np.float32) for k, v in json.loads(self.cache_path.read_text()).items()}
        self.seconds = 0.0      # time spent in uncached requests
        self.requests = 0

    def __call__(self, texts):
        """list of texts → (n, 384) unit vectors; one request for the texts not cached."""
        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            if not self.url:
                raise SystemExit(f"no --embed-url and {len(missing)} texts not in the cache, e.g. {missing[0]!r}")
            req = urllib.request.Request(self.url, data=json.dumps({"input": missing, "model": "x"}).encode(),
                                         headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=60) as r:
                data = json.loads(r.read())["data"]
            self.seconds += time.monotonic() - t0
            self.requests += 1
            for t, d in zip(missing, data):
                self.cache[t] = np.array(d["embedding"], dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])

    def save(self):
        if self.cache_path:
            self.cache_path.write_text(json.dumps({k: [round(float(x), 7) for x in v] for k, v in self.cache.items()}))


class Chat:
    def __init__(self, url, model="SmolLM2-135M-Instruct"):
        self.url = url.rstrip("/") + "/chat/completions" if url else None
        self.model = model
        self.seconds = 0.0
        self.calls = 0

    def choose(self, system, user, n):
        """The production `{reason, choice}` schema over options 1…n → (choice or None, reason)."""
        if not self.url:
            raise SystemExit("this strategy needs --llm-url")
        schema = {"type": "object",
                  "properties": {"reason": {"type": "string", "maxLength": 300},
                                 "choice": {"type": "integer", "enum": list(range(1, n + 1))}},
                  "required": ["reason", "choice"], "additionalProperties": False}
        body = dict(LLM_PARAMS, model=self.model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    response_format={"type": "json_object", "schema": schema})
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=180) as r:
            resp = json.loads(r.read())
        self.seconds += time.monotonic() - t0
        self.calls += 1
        text = resp["choices"][0]["message"]["content"] or ""
        try:
            answer = json.loads(text)
            return int(answer["choice"]), str(answer.get("reason", ""))
        except Exception:
            m = re.search(r'"choice"\s*:\s*(\d+)', text)
            return (int(m.group(1)) if m and 1 <= int(m.group(1)) <= n else None), text[:120]


# ------------------------------------------------------------------------------------------------ prompts

def transcript(item):
    lines = []
    for m in item["transcript"][-16:]:
        lines.append(f"Event at {EVENT_TIME}: {m['text']}" if m["role"] == "event" else f"{NAMES[m['role']]}: {m['text']}")
    return "\n".join(lines) if lines else "(nothing yet: the conversation is starting)"


def action_prompt(item, options):
    """options: [(kind, text)] with kind 'action' or 'exit', in the order shown. Prompts.selectNextAction."""
    system = ("You are Ava, an assistant.\nYou are deciding what to do next in a conversation. "
              f"Current objective: {item['objective']}")
    user = f"Conversation so far:\n{transcript(item)}\n\nOptions:\n"
    for i, (kind, text) in enumerate(options, 1):
        user += f"{i}. Do now: {text}\n" if kind == "action" else f"{i}. Move on, because: {text}\n"
    user += "\nWhich option fits the conversation now? Answer with its number."
    return system, user


def decide_prompt(item, options):
    """options: exit condition texts in the order shown. Prompts.decide."""
    system = f"You are Ava, an assistant.\nYou are making a decision about a conversation. Objective: {item['objective']}"
    user = f"Conversation so far:\n{transcript(item)}\n\nWhich statement is true now?\n"
    user += "".join(f"{i}. {t}\n" for i, t in enumerate(options, 1)) + "\nAnswer with its number."
    return system, user


# ------------------------------------------------------------------------------------------------ features

def options_of(item):
    """[(kind, text)] in the order of the 1-based `expected` index."""
    if item["kind"] == "action-state":
        return [("action", a) for a in item["actions"]] + [("exit", e) for e in item["exit_conditions"]]
    return [("exit", e) for e in item["exit_conditions"]]


def last(item, roles):
    for m in reversed(item["transcript"]):
        if m["role"] in roles:
            return m["text"]
    return None


def since_last_agent(item):
    """The user and event lines after the agent's last line (all lines when the agent has not spoken)."""
    out = []
    for m in reversed(item["transcript"]):
        if m["role"] == "agent":
            break
        out.append(m["text"])
    return list(reversed(out))


def views(item):
    """Texts that stand for 'what is new in the conversation', by name."""
    t = item["transcript"]
    new = since_last_agent(item) or [t[-1]["text"]]
    return {
        "user": [last(item, {"user"}) or t[-1]["text"]],
        "new": new,                                             # each line since the agent spoke, max over them
        "new-joined": [" ".join(new)],
        "last2": [" ".join(m["text"] for m in t[-2:])],
        "last4": [" ".join(m["text"] for m in t[-4:])],
    }


def sim_matrix(emb, options, texts):
    """cosine of each option with each text → (len(options), len(texts))."""
    return emb(options) @ emb(texts).T


# ------------------------------------------------------------------------------------------------ strategies
# Each returns (1-based choice, info dict). Constants are module-level so the doc can name them.

P = dict(
    view="new",             # 'sim': what options are compared with (see views())
    leave_margin=0.0,       # 'sim': leave when best exit sim − best action sim > leave_margin
    memory_threshold=0.2,   # active memory: needed when max cos(fact, last user message) ≥ this
    strong_exit=0.05,       # 'sim-v2': leave at once when best exit − best action (on the new lines) > this
    done_floor=0.2,         # 'sim-v2': an agent line performed the action it is closest to, if cos ≥ this
    closing_view="new+all", # 'sim-v2': how the exit is chosen once every action is done
    override_margin=0.15,   # 'override': the similarity choice wins when its top-2 margin is > this
)


def cos_new(item, emb, texts):
    """For each text, max cosine over the lines since the agent last spoke."""
    return sim_matrix(emb, texts, views(item)["new"]).max(axis=1)


def cos_all(item, emb, texts):
    """For each text, cosine with all user and event lines joined (what is known so far)."""
    lines = [m["text"] for m in item["transcript"] if m["role"] != "agent"]
    return sim_matrix(emb, texts, [" ".join(lines)])[:, 0]


def memory_needed(item, emb, p):
    s = float(sim_matrix(emb, item["facts"], [last(item, {"user"})]).max())
    return s >= p["memory_threshold"], {"sim": round(s, 3)}


def done_actions(item, emb, p):
    """Which actions the agent has performed: each agent line is credited to the action it is most similar
    to, when that cosine is ≥ done_floor."""
    acts = item["actions"]
    agent = [m["text"] for m in item["transcript"] if m["role"] == "agent"]
    done = [False] * len(acts)
    if agent:
        s = sim_matrix(emb, acts, agent)            # (actions, agent lines)
        for j in range(s.shape[1]):
            i = int(np.argmax(s[:, j]))
            if s[i, j] >= p["done_floor"]:
                done[i] = True
    return done


def r3(x):
    return np.round(np.asarray(x, dtype=float), 3).tolist()


def strat_sim(item, emb, chat, p):
    """(a) plain similarity: the best option by cosine; action states leave when the best exit beats the best
    action by leave_margin."""
    if item["kind"] == "active-memory":
        return memory_needed(item, emb, p)
    opts = options_of(item)
    s = sim_matrix(emb, [t for _, t in opts], views(item)[p["view"]]).max(axis=1)
    if item["kind"] == "decision-state":
        return int(np.argmax(s)) + 1, {"sims": r3(s)}
    na = len(item["actions"])
    best_a, best_e = int(np.argmax(s[:na])), na + int(np.argmax(s[na:]))
    return (best_e if s[best_e] - s[best_a] > p["leave_margin"] else best_a) + 1, {"sims": r3(s)}


def sim_v2(item, emb, p):
    """(a') structured similarity → (choice, info, ranked candidates for a shortlist)."""
    opts = options_of(item)
    texts = [t for _, t in opts]
    s = cos_new(item, emb, texts)
    if item["kind"] == "decision-state":
        order = [int(i) for i in np.argsort(-s, kind="stable")]
        return order[0] + 1, {"sims": r3(s)}, [o + 1 for o in order]
    na = len(item["actions"])
    best_a, best_e = int(np.argmax(s[:na])), na + int(np.argmax(s[na:]))
    done = done_actions(item, emb, p)
    open_ = [i for i in range(na) if not done[i]]
    info = {"sims": r3(s), "done": done}
    if s[best_e] - s[best_a] > p["strong_exit"]:
        rule, choice = "strong-exit", best_e
        alt = open_[0] if open_ else best_a
    elif open_:
        rule, choice, alt = "first-open", open_[0], best_e
    else:
        closing = s[na:] + (cos_all(item, emb, texts[na:]) if p["closing_view"] == "new+all" else 0)
        rule, choice = "all-done", na + int(np.argmax(closing))
        alt = best_a
        info["closing"] = r3(closing)
    info["rule"] = rule
    return choice + 1, info, [choice + 1, alt + 1]


def strat_sim_v2(item, emb, chat, p):
    if item["kind"] == "active-memory":
        return memory_needed(item, emb, p)
    choice, info, _ = sim_v2(item, emb, p)
    return choice, info


def ask_llm(item, chat, numbers):
    """The production-style prompt over the options `numbers` (1-based, shown in that order, renumbered)."""
    opts = options_of(item)
    shown = [opts[n - 1] for n in numbers]
    if item["kind"] == "action-state":
        system, user = action_prompt(item, shown)
    else:
        system, user = decide_prompt(item, [t for _, t in shown])
    got, reason = chat.choose(system, user, len(shown))
    return (numbers[got - 1] if got else None), reason


def strat_shortlist(item, emb, chat, p):
    """(b) similarity keeps two candidates (sim-v2's choice and its runner-up), shown in option order; the
    language model picks one."""
    if item["kind"] == "active-memory":
        return memory_needed(item, emb, p)
    choice, info, ranked = sim_v2(item, emb, p)
    pair = sorted(ranked[:2])
    got, reason = ask_llm(item, chat, pair)
    info.update(pair=pair, llm=got, reason=reason[:80])
    return (got if got else choice), info


def strat_llm(item, emb, chat, p):
    """The production prompt on all options, no similarity (baseline)."""
    if item["kind"] == "active-memory":
        return memory_needed(item, emb, p)
    got, reason = ask_llm(item, chat, list(range(1, len(options_of(item)) + 1)))
    return got, {"reason": reason[:80]}


def strat_override(item, emb, chat, p):
    """(c) the language model on all options, overridden by sim-v2 when the similarity margin is large
    (decision states: top-1 − top-2 cosine > override_margin; action states: the strong-exit or all-done
    rule fired, or the model chose an action already done)."""
    if item["kind"] == "active-memory":
        return memory_needed(item, emb, p)
    choice, info, ranked = sim_v2(item, emb, p)
    got, reason = ask_llm(item, chat, list(range(1, len(options_of(item)) + 1)))
    info.update(llm=got, reason=reason[:80])
    if item["kind"] == "decision-state":
        s = sorted(info["sims"], reverse=True)
        sure = len(s) > 1 and s[0] - s[1] > p["override_margin"]
    else:
        na = len(item["actions"])
        sure = info["rule"] != "first-open" or (got is not None and got <= na and info["done"][got - 1])
    return (choice if sure or got is None else got), info


STRATEGIES = {"sim": strat_sim, "sim-v2": strat_sim_v2, "shortlist": strat_shortlist, "llm": strat_llm,
              "override": strat_override}


# ------------------------------------------------------------------------------------------------ main

def expected_of(item):
    return item["expected_needed"] if item["kind"] == "active-memory" else item["expected"]


def run(items, name, emb, chat, params):
    fn = STRATEGIES[name]
    rows = []
    e0, c0 = emb.seconds, (chat.seconds if chat else 0.0)
    t0 = time.monotonic()
    for item in items:
        got, info = fn(item, emb, chat, params)
        rows.append({"id": item["id"], "kind": item["kind"], "expected": expected_of(item), "got": got,
                     "ok": got == expected_of(item), **info})
    times = (time.monotonic() - t0, emb.seconds - e0, (chat.seconds if chat else 0.0) - c0)
    return rows, times


def report(name, rows, times):
    by = collections.defaultdict(lambda: [0, 0])
    for r in rows:
        by[r["kind"]][0] += r["ok"]; by[r["kind"]][1] += 1
    choice = [r for r in rows if r["kind"] != "active-memory"]
    parts = [f"{k} {by[k][0]}/{by[k][1]}" for k in ("action-state", "decision-state", "active-memory") if by[k][1]]
    c_ok = sum(r["ok"] for r in choice)
    a_ok = sum(r["ok"] for r in rows)
    n = max(1, len(rows))
    wall, embed, llm = (1000 * t / n for t in times)
    print(f"{name:10} " + "  ".join(parts) +
          f"  | choice {c_ok}/{len(choice)} = {100 * c_ok / max(1, len(choice)):.0f}%"
          f"  all {a_ok}/{len(rows)} = {100 * a_ok / n:.0f}%"
          f"  | ms/decision: {wall:.0f} wall, {embed:.0f} embed requests, {llm:.0f} llm")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["tuning", "held_out", "all"], default="tuning")
    ap.add_argument("--strategies", default="sim")
    ap.add_argument("--embed-url", default="http://127.0.0.1:8094/v1")
    ap.add_argument("--llm-url")
    ap.add_argument("--embed-cache")
    ap.add_argument("--set", action="append", default=[], help="override a constant: NAME=VALUE (JSON)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--precompute", action="store_true",
                    help="only embed every text the strategies use on the part into --embed-cache; score nothing")
    ap.add_argument("--out")
    args = ap.parse_args()
    items = json.loads((HERE / "eval.json").read_text())
    split = json.loads((HERE / "split.json").read_text())
    if args.part != "all":
        keep = set(split[args.part])
        items = [i for i in items if i["id"] in keep]
    params = dict(P)
    for s in args.set:
        k, v = s.split("=", 1)
        params[k] = json.loads(v)
    emb = Embedder(args.embed_url, args.embed_cache)
    chat = Chat(args.llm_url) if args.llm_url else None
    if args.precompute:
        for item in items:
            for fn in (strat_sim, strat_sim_v2):
                fn(item, emb, None, params)
        emb.save()
        print(f"{len(emb.cache)} vectors in {args.embed_cache}")
        return
    out = {}
    for name in args.strategies.split(","):
        rows, seconds = run(items, name, emb, chat, params)
        report(name, rows, seconds)
        if args.verbose:
            for r in rows:
                print("   ", "ok " if r["ok"] else "BAD", r["id"], r["expected"], r["got"],
                      {k: v for k, v in r.items() if k not in ("id", "kind", "expected", "got", "ok")})
        out[name] = rows
    emb.save()
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
