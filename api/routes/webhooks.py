"""Webhooks routes (being built; see docs/channels.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
