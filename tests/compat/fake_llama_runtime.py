#!/usr/bin/env python3
"""Stands in for the embedded model runtime's Python in tests.

`compadre serve` runs `$COMPADRE_LLM_PYTHON -m llama_cpp.server --model M --host H --port P …`; this
script accepts that command line and serves the fake OpenAI-compatible model on port P, so the
supervision of the real child process (start, readiness, restart after kill -9, stop) is exercised
without compiling llama.cpp.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_openai import FakeOpenAI  # noqa: E402

args = sys.argv[1:]
assert args[:2] == ["-m", "llama_cpp.server"], args
port = int(args[args.index("--port") + 1])
assert os.path.exists(args[args.index("--model") + 1]), "the model file must exist"
FakeOpenAI(text="Hello from the embedded model.").start(port)
print(f"fake llama runtime on port {port}", flush=True)
while True:
    time.sleep(3600)
