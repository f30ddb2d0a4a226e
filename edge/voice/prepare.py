"""`hall voice prepare`: render every clip a hall's calls and prompts need into its cache.

Run it when the hall is set up and whenever its windows, prefixes or phrases change, while the
network is up: the clips come from edge-tts, or from espeak-ng where edge-tts cannot be reached.
After that the hall calls from the cache alone, with no network.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from edge.config import EdgeConfig
from edge.voice.cache import ClipCache
from edge.voice.speech import ClipKey, Voice, clips_needed
from edge.voice.synth import EdgeTts, Espeak
from sync.hallsetup import HallSetup

__all__ = ["hall_clips", "hall_setup", "prepare_cache", "voice_of"]


def hall_clips(setup: HallSetup) -> set[ClipKey]:
    return clips_needed(
        setup.voice,
        prefixes=sorted({t.prefix for t in setup.business_types}),
        windows=[(w.number, w.name) for w in setup.windows],
        services=[t.name for t in setup.business_types],
    )


def hall_setup(config: EdgeConfig, base: Path) -> HallSetup | None:
    """The hall's current setup: the node's database, else its setup file."""
    path = config.data_path(base) / config.database.path
    if path.exists():
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT body FROM hall_setup ORDER BY version DESC LIMIT 1"
            ).fetchone()
        except sqlite3.OperationalError:
            row = None
        finally:
            conn.close()
        if row is not None:
            return HallSetup.model_validate_json(row[0])
    if config.node.setup_file:
        return HallSetup.model_validate_json((base / config.node.setup_file).read_text("utf-8"))
    return None


def voice_of(config: EdgeConfig, base: Path) -> Voice:
    settings = config.voice
    online = (
        EdgeTts(settings.edge_tts_url, settings.edge_tts_timeout) if settings.edge_tts else None
    )
    cache = ClipCache(config.data_path(base) / settings.cache_dir)
    return Voice(cache, Espeak(settings.espeak), online)


async def prepare_cache(
    config: EdgeConfig, base: Path, setup: HallSetup, *, engine: str = "auto"
) -> Counter[str]:
    return await voice_of(config, base).prepare(hall_clips(setup), engine=engine)
