"""QR codes as PNG images (``qrcode`` with its Pillow image factory).

``qr_png(text)`` gives the PNG bytes (black on white, 1-bit, error correction level M,
so a slightly worn print still scans); ``qr_data_uri(text)`` the same image as a
``data:image/png;base64,...`` URI for ``<img src>`` in emails and pages. An offer's QR
holds its short redemption URL (``<base_url>/q/<token>``), which a till scanner reads
and ``POST /v1/offers/redeem`` accepts as it is.
"""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage

__all__ = ["MAX_TEXT", "qr_base64", "qr_data_uri", "qr_png"]

MAX_TEXT = 1000  # far below a QR code's capacity; offer URLs are under 200 characters


def qr_png(text: str, box_size: int = 8, border: int = 4) -> bytes:
    """The PNG of a QR code holding ``text`` (``box_size`` pixels per module, ``border`` modules of margin)."""
    if not isinstance(text, str) or not text:
        raise ValueError("a QR code needs some text")
    if len(text) > MAX_TEXT:
        raise ValueError(f"QR text is {len(text)} characters; keep it under {MAX_TEXT} (use a short URL)")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image(image_factory=PilImage).save(out, format="PNG")
    return out.getvalue()


def qr_base64(text: str) -> str:
    """The PNG, base64-encoded (no line breaks)."""
    return base64.b64encode(qr_png(text)).decode("ascii")


def qr_data_uri(text: str) -> str:
    """``data:image/png;base64,...`` of the QR code holding ``text``."""
    return "data:image/png;base64," + qr_base64(text)
