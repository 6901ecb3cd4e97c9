"""Spoken digits synthesised offline with espeak-ng: a small speech data set whose voices and speeds can be
held out.

No recorded speech ships with mmkit, so the words "zero" .. "nine" are spoken by the ``espeak-ng`` synthesiser
(Debian package ``espeak-ng``, GPL-3, run as a separate program). A voice is an accent with an optional
variant (``en-us``, ``en-gb-scotland+f3``); ``speed`` is in words per minute and ``pitch`` from 0 to 99. The
same arguments always give the same waveform, so a data set is fully determined by the voices, speeds and
pitches chosen.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from itertools import product

import numpy as np

from mmkit.errors import InputError, MissingDependencyError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SAMPLE_RATE = 22050  # espeak-ng's output rate
_VOICE = re.compile(r"[a-z]{2,3}(-[a-z0-9-]+)?(\+[a-z0-9]+)?", re.IGNORECASE)


@dataclass(frozen=True)
class SpokenDigit:
    """One utterance: waveform (T,) float32 in [-1, 1] at ``SAMPLE_RATE``, its digit and how it was spoken."""

    waveform: np.ndarray
    label: int
    voice: str
    speed: int
    pitch: int


def espeak_path() -> str | None:
    """Path of the espeak-ng program, or None when it is not installed."""
    return shutil.which("espeak-ng")


def synthesize(text: str, voice: str = "en-us", speed: int = 150, pitch: int = 50) -> np.ndarray:
    """Speak ``text`` -> waveform (T,) float32 in [-1, 1] at 22,050 Hz."""
    program = espeak_path()
    if program is None:
        raise MissingDependencyError("espeak-ng is not installed: run `apt-get install espeak-ng`.")
    if not text.strip():
        raise InputError("nothing to say: text is empty")
    if not _VOICE.fullmatch(voice):
        raise InputError(f"voice looks like 'en-us' or 'en-gb-scotland+f3', got {voice!r}")
    if not (80 <= speed <= 450 and 0 <= pitch <= 99):
        raise InputError(f"speed must be 80..450 words per minute and pitch 0..99, got {speed} and {pitch}")
    command = [program, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", "--", text]
    result = subprocess.run(command, capture_output=True, timeout=30, check=False)
    if result.returncode != 0 or b"data" not in result.stdout[:100]:
        raise InputError(f"espeak-ng could not speak with voice {voice!r}: {result.stderr.decode()[:200]}")
    # A WAV written to a pipe has no valid sizes in its header: the 16-bit samples follow the "data" chunk
    # header.
    start = result.stdout.index(b"data", 12) + 8
    body = result.stdout[start : start + (len(result.stdout) - start) // 2 * 2]
    return (np.frombuffer(body, dtype="<i2").astype(np.float32) / 32768.0).copy()


def spoken_digits(voices: list[str], speeds: list[int], pitches: list[int] = (50,)) -> list[SpokenDigit]:
    """Every digit in every voice x speed x pitch, in that nested order (10 * len(voices) * ...
    utterances)."""
    return [
        SpokenDigit(synthesize(word, voice, speed, pitch), label, voice, speed, pitch)
        for voice, speed, pitch in product(voices, speeds, pitches)
        for label, word in enumerate(DIGITS)
    ]
