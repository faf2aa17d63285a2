"""The public routes: no credentials, rate-limited per address, cacheable by anyone."""

from fastapi import APIRouter, Depends

from app.public import open_data
from app.public.http import rate_limited

router = APIRouter(prefix="/public", tags=["public"], dependencies=[Depends(rate_limited)])
router.include_router(open_data.router)
