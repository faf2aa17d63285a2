"""Webhooks: what the outbox costs ingestion, and how fast one dispatcher delivers.

    .venv/bin/python bench/webhooks.py --db sqlite postgres

- Ingestion: the event writer's CPU per event (bench/cpu_budget.py's writer_us: batches of
  32 events of the wrk walk over 300 shipments) in three states: without the outbox at all
  ("none", the writer as before webhooks), with it but no endpoint ("idle": each batch asks
  for its organisations' endpoints), and with an endpoint subscribed to every type
  ("subscribed": each batch writes its messages in its transaction). Phases none, idle,
  subscribed, subscribed, idle, none; against "none", the ratio of the means is the
  throughput lost (the writer is the single thread every event passes through). Goal
  (issue 18): at most a tenth.
- Delivery: the messages of `--events` events (about 0.4 per event: the walk's arrivals
  and releases) sent by one dispatcher (its thread and its 8 senders, in this process) to
  a receiver on 127.0.0.1 that checks each signature with the `standardwebhooks` library
  and answers 200; deliveries per second, and this process's CPU per delivery. The
  reference in the same run: the same receiver sent the same number of signed bodies by 8
  threads of bare httpx posts (no database, no payload built): the ratio says what the
  dispatcher's own work (taking, rendering the shipment's state, recording) costs.
"""

import argparse
import json
import resource
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from alembic import command  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402
from standardwebhooks.webhooks import Webhook  # noqa: E402

from app.auth.service import authenticate_bearer  # noqa: E402
from app.cli import alembic_config  # noqa: E402
from app.main import create_app  # noqa: E402
from app.webhooks.dispatcher import CONCURRENCY, Dispatcher  # noqa: E402
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint  # noqa: E402
from app.webhooks.sending import signature_headers  # noqa: E402
from bench import cpu_budget, databases, ingest  # noqa: E402

BATCH = 32


def ingestion(db: str, events: int) -> dict[str, Any]:
    phases = ["none", "idle", "subscribed", "subscribed", "idle", "none"]
    spent = [cpu_budget.writer_us(db, events, BATCH, outbox=phase) for phase in phases]
    means = {
        phase: statistics.mean(s for s, p in zip(spent, phases, strict=True) if p == phase)
        for phase in dict.fromkeys(phases)
    }
    return {
        "writer_us_phases": [f"{p} {s:.0f}" for p, s in zip(phases, spent, strict=True)],
        "writer_us": means,
        # Throughput is the inverse of the writer's time per event.
        "throughput_lost_idle": 1 - means["none"] / means["idle"],
        "throughput_lost_subscribed": 1 - means["none"] / means["subscribed"],
    }


class _Receiver:
    """Checks every signature and answers 200; counts what it took."""

    def __init__(self, secret: str) -> None:
        self.verifier = Webhook(secret)
        self.count = 0
        self.bad = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["content-length"]))
                try:
                    receiver.verifier.verify(raw, dict(self.headers.items()))
                    ok = True
                except Exception:
                    ok = False
                with receiver.lock:
                    receiver.count += ok
                    receiver.bad += not ok
                self.send_response(200 if ok else 401)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def delivery(db: str, events: int) -> dict[str, Any]:
    url = databases.url_for(db, "webhooks-dispatch")
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    settings = cpu_budget.settings_for(url).model_copy(update={"webhook_allow_private": True})
    app = create_app(settings)
    with TestClient(app) as client:
        token, checkpoints, shipments = ingest.prepare_world(client, cpu_budget.SHIPMENTS)
        with app.state.session_factory() as session:
            principal = authenticate_bearer(session, settings=settings, token=token)
        assert principal is not None
        assert principal.organization_id is not None
        cpu_budget.subscribe_everything(app, principal.organization_id)
        walk = cpu_budget._Walk(principal, checkpoints, shipments)
        for _ in range(max(1, events // BATCH)):
            app.state.event_writer._write([walk.next() for _ in range(BATCH)])
        sessions = app.state.session_factory
        dispatcher = Dispatcher(sessions, settings)
        # The walk's trips are months old: its clock finds them silent. Those messages are
        # written first, and sent with the others.
        dispatcher.scan_clock()
        with sessions() as session:
            endpoint = session.scalars(select(WebhookEndpoint)).one()
            messages = session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
            secret_list = _secrets(endpoint, settings.secret_key)
        receiver = _Receiver(secret_list[0])
        with sessions() as session:
            session.execute(update(WebhookEndpoint).values(url=receiver.url))
            session.commit()
        wall, cpu = time.perf_counter(), time.process_time()
        dispatcher.start()
        while receiver.count < messages:
            time.sleep(0.02)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        dispatcher.close()
        with sessions() as session:
            succeeded = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.succeeded)
            )
        bare_wall, bare_cpu = _bare_posts(receiver.url, secret_list, messages)
        bad = receiver.bad
        receiver.close()
    app.state.engine.dispose()
    return {
        "messages": messages,
        "succeeded": succeeded,
        "bad_signatures": bad,
        "dispatcher_per_s": messages / wall,
        "dispatcher_cpu_ms_per_delivery": cpu / messages * 1e3,
        "bare_posts_per_s": messages / bare_wall,
        "bare_cpu_ms_per_post": bare_cpu / messages * 1e3,
    }


def _secrets(endpoint: WebhookEndpoint, key: str) -> list[str]:
    from app.webhooks import secrets

    return secrets.signing_secrets(endpoint, key, datetime.now(UTC))


def _bare_posts(url: str, secret_list: list[str], count: int) -> tuple[float, float]:
    """The reference: `count` signed bodies posted by CONCURRENCY threads of plain httpx."""
    body = json.dumps({"type": "shipment.arrived", "data": {"shipment": {"id": "x" * 36}}})
    client = httpx.Client(timeout=10)

    def post(n: int) -> None:
        headers = signature_headers(f"msg_{n:032x}", body, secret_list, datetime.now(UTC))
        client.post(url, content=body, headers=headers).raise_for_status()

    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(post, range(count)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    client.close()
    return wall, cpu


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--events", type=int, default=4000, help="events per ingestion phase")
    parser.add_argument("--deliveries-from", type=int, default=5000, help="events to send")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": ingest.machine()}
    print(json.dumps(results["machine"]))
    for db in args.db:
        cost = ingestion(db, args.events)
        sent = delivery(db, args.deliveries_from)
        results[db] = {"ingestion": cost, "delivery": sent}
        print(
            f"{db:8} writer µs CPU per event, by phase: {', '.join(cost['writer_us_phases'])};"
            f" throughput lost to the outbox: idle {cost['throughput_lost_idle']:+.1%},"
            f" subscribed {cost['throughput_lost_subscribed']:+.1%} (goal ≤ 10%)"
        )
        print(
            f"{db:8} one dispatcher: {sent['messages']} messages, "
            f"{sent['dispatcher_per_s']:.0f} deliveries/s "
            f"({sent['dispatcher_cpu_ms_per_delivery']:.2f} ms CPU each); bare signed posts "
            f"{sent['bare_posts_per_s']:.0f}/s ({sent['bare_cpu_ms_per_post']:.2f} ms CPU): "
            f"×{sent['bare_posts_per_s'] / sent['dispatcher_per_s']:.1f}; "
            f"bad signatures {sent['bad_signatures']}"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return results


if __name__ == "__main__":
    main()
