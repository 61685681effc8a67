#!/usr/bin/env python3
"""Measures the embedded model server (llama-cpp-python + SmolLM2-135M) and probes its API.

    eval "$(scripts/setup-model)"
    python3 Benchmarks/embedded-model-probe.py [--port 8093] [--out /tmp/probe.json]

Starts `$COMPADRE_LLM_PYTHON -m llama_cpp.server` on 127.0.0.1, measures startup, time to first token and
decoding speed of a streamed ~300-token chat prompt, checks schema-constrained JSON, chat logprobs and
/v1/completions logprobs+echo, prints a JSON report, and stops the server (always). Standard library only.
Findings are written up in Benchmarks/embedded-model.md.
"""
import argparse, json, os, signal, subprocess, sys, time, urllib.request, urllib.error

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=8093)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--out", default=None)
args = ap.parse_args()
PY = os.environ["COMPADRE_LLM_PYTHON"]
GGUF = os.environ["COMPADRE_LLM_MODEL_PATH"]
BASE = f"http://127.0.0.1:{args.port}"
report = {}


def post(path, body, timeout=120):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")[:2000], time.monotonic() - t0


def stream_chat(body):
    """Returns (ttft, total, n_content_chunks, text, first_chunk, last_chunk)."""
    body = dict(body, stream=True)
    req = urllib.request.Request(BASE + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.monotonic(); ttft = None; n = 0; text = ""; first = last = None
    with urllib.request.urlopen(req, timeout=300) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            first = first or chunk; last = chunk
            delta = chunk["choices"][0].get("delta", {}) if chunk.get("choices") else {}
            if delta.get("content"):
                if ttft is None:
                    ttft = time.monotonic() - t0
                n += 1; text += delta["content"]
    return ttft, time.monotonic() - t0, n, text, first, last


CONTEXT = (
    "You are Ava, the virtual assistant of the Riverside Family Clinic. The clinic is open Monday to Friday "
    "from 8:00 to 18:00 and on Saturday from 9:00 to 13:00. It offers general practice, pediatrics, "
    "vaccinations, blood tests and minor injury care. Appointments last 15 minutes for routine visits and 30 "
    "minutes for new patients. Patients must bring an ID card and their insurance card. The clinic accepts "
    "BlueCross, Aetna and United insurance; other patients pay at the desk by card. Cancellations need 24 "
    "hours notice or a fee of 25 dollars applies. For emergencies such as chest pain, trouble breathing, "
    "heavy bleeding or loss of consciousness, patients must call emergency services immediately rather than "
    "book an appointment. Be warm, brief and clear. Never give a diagnosis. Ask one question at a time. "
    "If you do not know something, say so and offer to connect the patient with the front desk staff."
)
def chat_body(question, **kw):
    body = {"messages": [{"role": "system", "content": CONTEXT},
                         {"role": "user", "content": question}],
            "max_tokens": 160, "temperature": 0.7, "repeat_penalty": 1.1, "seed": 7}
    body.update(kw); return body

QUESTIONS = [
    "Hello! I moved to town last month and I would like to register as a new patient. My son also needs his "
    "school vaccinations before September. Can you tell me how appointments work, what I need to bring with "
    "me, whether my Aetna insurance is accepted, and what happens if I have to cancel at short notice?",
    "Hi, I have had a dry cough and a mild fever for three days. I am not short of breath, but I feel tired "
    "and my throat hurts when I swallow. Could I get an appointment this week, ideally on Saturday morning, "
    "and should I bring anything in particular? Also, do you do blood tests at the clinic itself?",
    "Good evening. My daughter fell off her bike this afternoon and scraped her knee quite badly; it is not "
    "bleeding much any more but it looks dirty. Do you treat minor injuries, how long would the visit take, "
    "and is there any way to be seen tomorrow before eight in the morning? We are with United insurance.",
]

server = subprocess.Popen(
    [PY, "-m", "llama_cpp.server", "--model", GGUF, "--host", "127.0.0.1", "--port", str(args.port),
     "--interrupt_requests", "False", "--n_threads", str(args.threads)],
    stdout=subprocess.DEVNULL, stderr=open("/tmp/embedded-model-probe.server.log", "w"),
    start_new_session=True)
try:
    t0 = time.monotonic()
    while True:
        if server.poll() is not None:
            sys.exit("server exited early; see /tmp/embedded-model-probe.server.log")
        try:
            with urllib.request.urlopen(BASE + "/v1/models", timeout=1) as r:
                models = json.loads(r.read()); break
        except Exception:
            time.sleep(0.05)
    report["startup_s"] = round(time.monotonic() - t0, 3)
    report["models"] = models
    model_id = models["data"][0]["id"]

    # --- streamed chat: cold prompt, then prompts sharing the system prefix, then the exact same prompt
    runs = []
    for label, q in [("cold", QUESTIONS[0]), ("shared system prefix", QUESTIONS[1]),
                     ("shared system prefix", QUESTIONS[2]), ("same prompt again", QUESTIONS[2])]:
        ttft, total, n, text, first, last = stream_chat(chat_body(q))
        runs.append({"label": label, "ttft_s": round(ttft, 3), "total_s": round(total, 3), "content_chunks": n,
                     "decode_tok_per_s": round((n - 1) / (total - ttft), 1) if n > 1 else None,
                     "text": text[:300], "finish_reason": last["choices"][0].get("finish_reason")})
        if label == "cold":
            report["stream_first_chunk"] = first; report["stream_last_chunk"] = last
    _, resp, _ = post("/v1/chat/completions", chat_body(QUESTIONS[0], max_tokens=1))
    report["prompt_tokens"] = resp["usage"]["prompt_tokens"]
    report["stream_runs"] = runs

    # --- schema-constrained JSON
    schema = {"type": "object", "properties": {"choice": {"type": "integer", "enum": [1, 2, 3, 4]}},
              "required": ["choice"]}
    results = []
    for q in ["Pick option 3.", "Which is biggest: 1. mouse 2. cat 3. elephant 4. ant? Answer with its number.",
              "Write a poem about the sea.", "Answer 7."]:
        body = {"messages": [{"role": "user", "content": q}], "temperature": 0, "max_tokens": 40,
                "response_format": {"type": "json_object", "schema": schema}}
        status, resp, dt = post("/v1/chat/completions", body)
        content = resp["choices"][0]["message"]["content"] if status == 200 else resp
        try:
            parsed = json.loads(content); ok = parsed.get("choice") in (1, 2, 3, 4)
        except Exception:
            parsed = None; ok = False
        results.append({"prompt": q, "status": status, "content": content, "valid": ok, "s": round(dt, 3)})
    report["json_schema_enum"] = results
    status, resp, _ = post("/v1/chat/completions", {
        "messages": [{"role": "user", "content": "Pick option 3."}], "max_tokens": 20,
        "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}})
    report["openai_json_schema_form"] = {"status": status, "body": resp if status != 200 else resp["choices"][0]["message"]}

    # --- chat logprobs
    body = {"messages": [{"role": "user", "content": "Which number comes after 2? Answer with one digit."}],
            "max_tokens": 3, "temperature": 0, "logprobs": True, "top_logprobs": 5}
    status, resp, _ = post("/v1/chat/completions", body)
    report["chat_logprobs"] = {"request": body, "status": status, "response": resp}
    body2 = dict(body, response_format={"type": "json_object", "schema": schema}, max_tokens=8)
    status, resp, _ = post("/v1/chat/completions", body2)
    report["chat_logprobs_with_schema"] = {"status": status, "response": resp}

    # --- completions logprobs + echo (score options by log-likelihood)
    prompt = "Q: What is the capital of France?\nA: Paris"
    body = {"model": model_id, "prompt": prompt, "max_tokens": 1, "logprobs": 5, "echo": True, "temperature": 0}
    status, resp, dt = post("/v1/completions", body)
    report["completions_logprobs_echo"] = {"request": body, "status": status, "response": resp, "s": round(dt, 3)}
    body0 = dict(body, max_tokens=0)
    status, resp, _ = post("/v1/completions", body0)
    report["completions_logprobs_echo_max0"] = {"status": status, "response": resp}
    body_noecho = {"prompt": "Q: What is the capital of France?\nA:", "max_tokens": 2, "logprobs": 5, "temperature": 0}
    status, resp, _ = post("/v1/completions", body_noecho)
    report["completions_logprobs_noecho"] = {"status": status, "response": resp}

    # --- repeat_penalty accepted per request
    status, resp, _ = post("/v1/chat/completions", {"messages": [{"role": "user", "content": "Count: a a a a a"}],
                                                    "max_tokens": 20, "repeat_penalty": 1.1})
    report["repeat_penalty_per_request_status"] = status
finally:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL); server.wait()

out = json.dumps(report, indent=1)
if args.out:
    open(args.out, "w").write(out)
print(out)
