#!/usr/bin/env python3
"""Measures scripts/speech-server.py: start time, RSS, transcription and synthesis latency.

    eval "$(scripts/setup-voice)"
    python3 Benchmarks/speech-probe.py [--runs 7] [-- extra server arguments, e.g. --tts-threads 2]

Starts the server on a free port, synthesizes test sentences (16 kHz WAV, the format Compadre sends for
transcription), then reports medians. Prints the load average and whether a Swift build was running,
since either skews the numbers on 2 cores.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

SHORT = "Okay."
MEDIUM = "Hello, this is Joe from the clinic. How can I help you today?"  # ≈ 3.2 s
ROUND_TRIP = "Please book a visit for Tuesday morning."


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def swift_running():
    try:
        return subprocess.run(["pgrep", "-f", "swift-frontend|swift-build"], capture_output=True).returncode == 0
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("server_args", nargs="*")
    args = parser.parse_args()
    python = os.environ["COMPADRE_VOICE_PYTHON"]
    server = os.environ.get("COMPADRE_VOICE_SERVER") or os.path.join(os.path.dirname(__file__), "..", "scripts", "speech-server.py")

    print(f"load average before: {os.getloadavg()[0]:.2f}; Swift build running: {swift_running()}")
    started = time.monotonic()
    process = subprocess.Popen([python, server, "--port", "0", *args.server_args], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    ready = time.monotonic() - started
    base = re.search(r"(http://\S+)", line).group(1)
    print(f"start to ready: {ready:.2f} s; RSS after load: {rss_mb(process.pid):.0f} MB")

    def speech(text, **extra):
        body = json.dumps({"model": "tts-1", "input": text, "voice": "joe", "response_format": "wav", **extra}).encode()
        request = urllib.request.Request(base + "/v1/audio/speech", data=body, headers={"Content-Type": "application/json"})
        t = time.monotonic()
        with urllib.request.urlopen(request) as r:
            data = r.read()
        return data, time.monotonic() - t

    def transcribe(wav):
        b = uuid.uuid4().hex
        body = (
            f'--{b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        ).encode() + wav + f"\r\n--{b}--\r\n".encode()
        request = urllib.request.Request(
            base + "/v1/audio/transcriptions", data=body, headers={"Content-Type": f"multipart/form-data; boundary={b}"}
        )
        t = time.monotonic()
        with urllib.request.urlopen(request) as r:
            text = json.loads(r.read())["text"]
        return text, time.monotonic() - t

    try:
        for text in (SHORT, MEDIUM):
            times, seconds = [], 0.0
            for _ in range(args.runs):
                wav, dt = speech(text)
                times.append(dt)
                seconds = (len(wav) - 44) / 2 / 22050
            print(f"synthesis {text!r} ({seconds:.2f} s of audio): median {1000 * statistics.median(times):.0f} ms, "
                  f"min {1000 * min(times):.0f}, max {1000 * max(times):.0f}")
        for text in (MEDIUM, ROUND_TRIP):
            wav, _ = speech(text, sample_rate=16000)
            times = []
            for _ in range(args.runs):
                heard, dt = transcribe(wav)
                times.append(dt)
            seconds = (len(wav) - 44) / 2 / 16000
            print(f"transcription of {seconds:.2f} s (16 kHz WAV): median {1000 * statistics.median(times):.0f} ms, "
                  f"min {1000 * min(times):.0f}, max {1000 * max(times):.0f}: {heard!r}")
        print(f"RSS after requests: {rss_mb(process.pid):.0f} MB; load average after: {os.getloadavg()[0]:.2f}; "
              f"Swift build running: {swift_running()}")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
