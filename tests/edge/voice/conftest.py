"""Voice fixtures: real espeak-ng, a clip cache in a temporary folder, and audio measures."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.voice.audio import RATE, Pcm
from edge.voice.cache import ClipCache
from edge.voice.speech import Voice
from edge.voice.synth import Espeak


@dataclass(frozen=True)
class Speech:
    seconds: float
    rms: float
    voiced: float  # share of 20 ms frames louder than a whisper


def measure(pcm: Pcm) -> Speech:
    """How long, how loud, and how much of it is sound (not silence)."""
    frame = RATE // 50
    usable = len(pcm) // frame * frame
    frames = pcm[:usable].reshape(-1, frame) if usable else np.zeros((1, frame), np.float32)
    energy = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    return Speech(
        seconds=len(pcm) / RATE,
        rms=float(np.sqrt((pcm.astype(np.float64) ** 2).mean())) if len(pcm) else 0.0,
        voiced=float((energy > 0.02).mean()),
    )


def sox_stat(path: Path) -> dict[str, float]:
    """`sox FILE -n stat`: length, RMS amplitude and the rest, as sox itself reads the file."""
    result = subprocess.run(
        ["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True
    )
    stats: dict[str, float] = {}
    for line in result.stderr.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            try:
                stats[name.strip()] = float(value.split()[0])
            except (ValueError, IndexError):
                continue
    return stats


@pytest.fixture
def espeak() -> Espeak:
    return Espeak()


@pytest.fixture
def voice(tmp_path: Path, espeak: Espeak) -> Voice:
    """Offline: espeak-ng only, clips in a temporary folder."""
    return Voice(ClipCache(tmp_path / "clips"), espeak)
