"""Find a font with CJK glyphs for drawing tickets (Debian: fonts-wqy-zenhei or fonts-noto-cjk)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

__all__ = ["CJK_FONT_PACKAGE", "CjkFontMissing", "cjk_font", "find_cjk_font"]

log = logging.getLogger(__name__)

CJK_FONT_PACKAGE = "fonts-wqy-zenhei"

# path -> face index in the collection (Noto's .ttc: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK)
KNOWN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)


class CjkFontMissing(RuntimeError):
    """No font with Chinese glyphs is installed."""

    def __init__(self) -> None:
        super().__init__(
            f"no CJK font found: install the Debian package {CJK_FONT_PACKAGE} (or fonts-noto-cjk)"
        )


@lru_cache(maxsize=1)
def find_cjk_font() -> tuple[Path, int]:
    """The font file and face index to draw Chinese with; known paths first, then fc-list."""
    for path, index in KNOWN_FONTS:
        if Path(path).is_file():
            return Path(path), index
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            found = subprocess.run(
                [fc_list, ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=10
            ).stdout.split()
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("fc-list failed: %s", exc)
            found = []
        for line in sorted(found):
            candidate = Path(line.rstrip(":"))
            if candidate.is_file():
                return candidate, 0
    raise CjkFontMissing()


@lru_cache(maxsize=32)
def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    path, index = find_cjk_font()
    return ImageFont.truetype(str(path), size=size, index=index)
