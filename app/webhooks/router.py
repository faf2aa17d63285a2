"""PLACEHOLDER until the endpoints API lands."""

from fastapi import APIRouter

router = APIRouter()
