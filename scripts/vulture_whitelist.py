"""Vulture: names that look unused because a library, not our code, reads or calls them.

Fields of Pydantic models, ORM columns, enum members and NamedTuple fields are listed at run
time by scripts/framework_names.py; routes, validators and listeners are skipped by the
decorators in pyproject.toml ([tool.vulture]). What is left is here, each with its reader.
"""

# ruff: noqa: B018
from app import main

_ = object()

main.create_app  # uvicorn's factory: `clearance serve` names it as "app.main:create_app"
_.openapi  # FastAPI calls app.openapi() for /openapi.json (main.py replaces it)
_.isolation_level  # sqlite3 connections: None hands BEGIN/COMMIT to us (db.py)
_.handlers  # logging: the root logger's handlers (observability.py)
_.disabled  # logging: uvicorn's access logger turned off (observability.py)
_.impl  # SQLAlchemy TypeDecorator: the type it decorates (db.py)
_.cache_ok  # SQLAlchemy TypeDecorator: safe to cache its statements (db.py)
_.process_bind_param  # SQLAlchemy TypeDecorator: value on the way in (db.py)
_.process_result_value  # SQLAlchemy TypeDecorator: value on the way out (db.py)
_.inherit_cache  # SQLAlchemy: a custom SQL function's statements may be cached (reports/sql.py)
_.model_config  # Pydantic: a model's configuration
# limits: its Storage interface, which its rate limiters call (auth/throttle_storage.py).
_.STORAGE_SCHEME  # the URL schemes a storage registers for (none: ours is made by hand)
_.base_exceptions  # what its error wrapper turns into StorageError
_.acquire_entry  # MovingWindowRateLimiter.hit
_.get_moving_window  # MovingWindowRateLimiter.test and get_window_stats
_.incr  # FixedWindowRateLimiter.hit
_.get_expiry  # FixedWindowRateLimiter.get_window_stats


# Not a library's: the from-scratch rebuild of a shipment's stops, which the tests compare the
# incremental one (service.record_events) to (tests/tracking, tests/demo).
from app.tracking import service  # noqa: E402

service.rebuild
# The content hash of a timeline.Event: what the tests check the hash made from a request
# (service.content_hash) and the demo generator's against (tests/tracking, tests/demo).
service.event_hash
# The public forecast made again on its thread: tests and benchmarks wait for it to be in.
from app.public.feed import FeedCache  # noqa: E402

FeedCache.wait_for_refresh
