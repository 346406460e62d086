"""The dashboard's HTML pages: static files, served with headers that keep them to honed."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).parent / "static"

# The pages load scripts and styles from honed only (no CDN, no inline script), may not be
# framed, and send no Referer: a share link's token sits in the URL fragment, which
# browsers never send, and this keeps the page address itself private too.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page(name: str, status_code: int = 200) -> FileResponse:
    return FileResponse(
        STATIC_DIR / name, status_code=status_code, media_type="text/html", headers=PAGE_HEADERS
    )
