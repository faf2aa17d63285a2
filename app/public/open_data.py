"""Open data: one row per checkpoint and UTC day (`/public/daily`), and the dictionary of
every public field (`/public/dictionary`)."""

from fastapi import APIRouter

router = APIRouter()
