"""Audio as the voice works with it: mono float32 at one sample rate, cut, joined and encoded."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

__all__ = [
    "RATE",
    "AudioError",
    "Pcm",
    "decode",
    "join",
    "opus_bytes",
    "pcm16_bytes",
    "silence",
    "trim",
    "wav_bytes",
]

RATE = 24_000  # edge-tts speaks at 24 kHz; espeak-ng's 22.05 kHz is resampled to it
Pcm = npt.NDArray[np.float32]

_SILENCE_LEVEL = 0.02  # of full scale: quieter than this at either end is cut
_EDGE_MS = 15  # kept before the first and after the last loud sample


class AudioError(Exception):
    """Bytes that are not audio this voice can read."""


def decode(data: bytes) -> Pcm:
    """Any format libsndfile reads (WAV, MP3, Ogg/Opus, FLAC) as mono float32 at `RATE`."""
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"not audio: {exc}") from exc
    mono: Pcm = samples.mean(axis=1, dtype=np.float32)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE).astype(np.float32)
    return mono


def trim(pcm: Pcm) -> Pcm:
    """Cut the silence at both ends, keeping a few milliseconds so no sound is clipped."""
    loud = np.flatnonzero(np.abs(pcm) > _SILENCE_LEVEL)
    if loud.size == 0:
        return pcm[:0]
    edge = RATE * _EDGE_MS // 1000
    return pcm[max(0, loud[0] - edge) : loud[-1] + 1 + edge]


def silence(ms: int) -> Pcm:
    return np.zeros(RATE * ms // 1000, dtype=np.float32)


def join(parts: list[tuple[Pcm, int]]) -> Pcm:
    """Clips one after another, each followed by its gap in milliseconds."""
    chunks: list[Pcm] = []
    for pcm, gap_ms in parts:
        chunks.append(pcm)
        if gap_ms:
            chunks.append(silence(gap_ms))
    return np.concatenate(chunks) if chunks else silence(0)


def pcm16_bytes(pcm: Pcm) -> bytes:
    """Raw signed 16-bit little-endian samples, as `aplay -f S16_LE` takes them."""
    return (np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _encode(pcm: Pcm, fmt: str, subtype: str) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, pcm, RATE, format=fmt, subtype=subtype)
    return out.getvalue()


def wav_bytes(pcm: Pcm) -> bytes:
    return _encode(pcm, "WAV", "PCM_16")


def opus_bytes(pcm: Pcm) -> bytes:
    """Ogg/Opus: a few kilobytes a second, small enough for one MQTT message per call."""
    return _encode(pcm, "OGG", "OPUS")
