"""Segments routes (being built; see docs/segments.md and docs/analytics.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["segments"])
