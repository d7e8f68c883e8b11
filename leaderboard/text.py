"""Text from submissions shown to people: bidi overrides and control characters neutralised.

A name such as ``"gpt\u202egnp.exe"`` renders reversed, and a terminal escape in a label can rewrite the
screen; both are shown as visible ``\\u…`` escapes instead (the page and ``aem leaderboard show`` alike).
"""

from __future__ import annotations

import unicodedata

# Bidi embeddings/overrides/isolates and marks, zero-width joiners and the BOM: invisible, yet they change
# how the text around them reads.
_INVISIBLE = (
    set(range(0x202A, 0x202F))
    | set(range(0x2066, 0x206A))
    | {0x200E, 0x200F, 0x061C, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}
)


def safe_text(s: str, limit: int = 300) -> str:
    """``s`` with control, format and bidi characters as ``\\uXXXX``, cut to ``limit`` characters."""
    out = []
    for ch in s[:limit]:
        cp = ord(ch)
        if cp in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out) + ("…" if len(s) > limit else "")
