"""The fonts every PDF the platform draws uses (invoices, statements, quotes, signature pages)."""
from __future__ import annotations

import os
from functools import lru_cache

from reportlab.pdfbase.pdfmetrics import registerFont, registerFontFamily
from reportlab.pdfbase.ttfonts import TTFont

_DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"


@lru_cache(maxsize=None)
def fonts() -> tuple[str, str]:
    """(regular, bold) font names. DejaVu Sans when the system has it: it is embedded and covers
    all of Latin (ł, ő, č ...), Greek and Cyrillic; Helvetica's WinAnsi covers only Western Latin
    (é, ü, ø, ß) and shows a box for the rest. Helvetica is the fallback, so rendering never
    depends on the system's fonts being there."""
    regular = os.path.join(_DEJAVU_DIR, "DejaVuSans.ttf")
    bold = os.path.join(_DEJAVU_DIR, "DejaVuSans-Bold.ttf")
    if os.path.isfile(regular) and os.path.isfile(bold):
        try:
            registerFont(TTFont("PortalSans", regular))
            registerFont(TTFont("PortalSans-Bold", bold))
            registerFontFamily("PortalSans", normal="PortalSans", bold="PortalSans-Bold",
                               italic="PortalSans", boldItalic="PortalSans-Bold")
            return "PortalSans", "PortalSans-Bold"
        except Exception:  # an unreadable or broken font file: fall back, never fail the PDF
            pass
    return "Helvetica", "Helvetica-Bold"
