"""The `clearance` command: serve, migrate, create-admin, seed-demo."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.config import Settings, get_settings, production_admin_password_problem


def alembic_config(database_url: str) -> Config:
    """Alembic's config, found beside the code (a checkout) or in the working directory."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        ini = root / "alembic.ini"
        if ini.is_file():
            config = Config(str(ini))
            config.set_main_option("script_location", str(root / "migrations"))
            config.attributes["database_url"] = database_url
            return config
    raise SystemExit("alembic.ini not found: run `clearance` from the project directory.")


def migrate(settings: Settings) -> None:
    command.upgrade(alembic_config(settings.database_url), "head")


def _serve(args: argparse.Namespace) -> None:
    """Migrate, make the bootstrap admin, then serve with `--workers` processes.

    Workers are processes that uvicorn starts from the import string (each calls create_app,
    so each has its own engine, event writer and projection cache). What they must agree on
    lives outside them: the data in the database, the login throttle's windows in Redis or
    the database. The schema and the first admin are made here, once, before any starts:
    workers starting together would otherwise race to create the same admin.

    SQLite allows several workers on one machine: each opens the file with WAL, the busy
    timeout and BEGIN IMMEDIATE, so writers queue on its one write lock; more workers add
    request-path CPU (parsing, credentials, JSON), not write throughput. PostgreSQL is the
    database for several workers and for several machines.
    """
    import uvicorn

    settings = get_settings()
    migrate(settings)
    _ensure_bootstrap_admin(settings)
    uvicorn.run(
        "app.main:create_app",  # an import string: with workers > 1, each process imports it
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,  # our JSON logging, configured by create_app
        proxy_headers=True,
        # Abuse limits. A slow client costs a socket, never a worker thread: uvicorn reads
        # headers and body on the event loop, and the app runs only once the body is in.
        # An idle keep-alive connection is closed after 5 s; past `limit_concurrency` open
        # connections and tasks a new request gets a 503 at once instead of queueing without
        # bound; headers over 16 KiB are refused. Uvicorn has no header-read deadline, so on
        # an open network put a proxy in front with one (nginx: client_header_timeout).
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        limit_concurrency=args.limit_concurrency,
        backlog=2048,
        h11_max_incomplete_event_size=16 * 1024,
    )


def _ensure_bootstrap_admin(settings: Settings) -> None:
    """BOOTSTRAP_ADMIN_EMAIL/PASSWORD's admin, unless an admin exists (create_app's start-up
    does the same, and then finds it made)."""
    if not (settings.bootstrap_admin_email and settings.bootstrap_admin_password):
        return
    from app.auth.passwords import Passwords
    from app.db import create_db_engine, make_session_factory
    from app.organizations import service

    engine = create_db_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            service.ensure_admin(
                session,
                passwords=Passwords(settings),
                email=settings.bootstrap_admin_email,
                password=settings.bootstrap_admin_password,
            )
    finally:
        engine.dispose()


def _migrate(_: argparse.Namespace) -> None:
    migrate(get_settings())
    print("database is at the latest schema")


def _create_admin(args: argparse.Namespace) -> None:
    from app.auth.passwords import Passwords
    from app.db import create_db_engine, make_session_factory
    from app.organizations import service

    settings = get_settings()
    migrate(settings)
    password = args.password or os.environ.get("ADMIN_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 8:
        raise SystemExit("the password must have at least 8 characters")
    if settings.environment == "production" and (
        problem := production_admin_password_problem(
            password, setting="the password (--password or $ADMIN_PASSWORD)"
        )
    ):
        raise SystemExit(problem)
    engine = create_db_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            created = service.create_admin(
                session, passwords=Passwords(settings), email=args.email, password=password
            )
    finally:
        engine.dispose()
    print(f"admin {created.email} created")


def _seed_demo(args: argparse.Namespace) -> None:
    import time

    from app.auth.passwords import Passwords
    from app.db import create_db_engine, make_session_factory
    from app.demo import generator
    from app.reports import rollups

    settings = get_settings()
    migrate(settings)
    engine = create_db_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            if not generator.is_empty(session):
                if args.if_empty:
                    print("the database already has shipments; demo data not loaded")
                    return
                raise SystemExit("the database already has shipments: use a fresh DATABASE_URL")
            started = time.perf_counter()
            written = generator.seed(
                session, passwords=Passwords(settings), shipments=args.shipments, seed=args.seed
            )
        # Every cell the load touched is marked: built now rather than by the first server.
        written["report day cells"] = rollups.rebuild(make_session_factory(engine))
    finally:
        engine.dispose()
    counts = ", ".join(f"{n:,} {what}" for what, n in written.items())
    print(f"demo data loaded in {time.perf_counter() - started:.1f} s: {counts}")
    print(
        f"sign in as exporter1@demo.example … exporter12@demo.example or "
        f"{generator.ADVOCATE_EMAIL}, password {generator.DEMO_PASSWORD!r}"
    )


def _rollups(args: argparse.Namespace) -> None:
    """rebuild-rollups / verify-rollups: the reports' cells (day, month, corridor) against
    their stops and trips."""
    from app.db import create_db_engine, make_session_factory
    from app.reports import rollups

    engine = create_db_engine(get_settings())
    sessions = make_session_factory(engine)
    try:
        if args.command == "rebuild-rollups":
            rebuilt = rollups.rebuild(sessions, parallel=args.parallel)
            print(f"{rebuilt:,} day cells rebuilt from the stops")
            return
        refreshed = rollups.refresh_all(sessions)  # marked cells are not wrong, only pending
        problems = rollups.verify(sessions)
    finally:
        engine.dispose()
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f"clearance: {len(problems)} rollup rows differ from what they sum")
    print(
        "every day, week, month and corridor cell equals its stops and trips, and every "
        f"network row its checkpoints' cells ({refreshed:,} marked cells refreshed first)"
    )


def _dispatch(args: argparse.Namespace) -> None:
    """dispatch: sends the webhooks' messages from this process, until stopped (SIGTERM or
    Ctrl-C let the attempts in progress be recorded first). Any number may run at once."""
    import signal

    import app.models  # noqa: F401 (every mapper, for the foreign keys the writes follow)
    from app.db import create_db_engine, make_session_factory
    from app.webhooks.dispatcher import Dispatcher

    settings = get_settings()
    engine = create_db_engine(settings)
    dispatcher = Dispatcher(make_session_factory(engine), settings)
    try:
        if args.once:
            print(f"{dispatcher.deliver_now():,} attempts made")
            return
        signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
        print("dispatching webhooks (Ctrl-C stops)", flush=True)
        try:
            dispatcher.run_forever()
        except KeyboardInterrupt:
            pass
    finally:
        dispatcher.close()
        engine.dispose()


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="clearance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate the database, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes (each with its own event writer); see README 'Several workers'",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        help="open connections and tasks per worker before new requests get 503",
    )
    serve.set_defaults(func=_serve)

    sub.add_parser("migrate", help="bring the database schema to the latest version").set_defaults(
        func=_migrate
    )

    admin = sub.add_parser("create-admin", help="create an admin user")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="else $ADMIN_PASSWORD, else asked for")
    admin.set_defaults(func=_create_admin)

    demo = sub.add_parser("seed-demo", help="load synthetic demo data into an empty database")
    # Dense enough that most checkpoint-days pass the advocates' cell thresholds (privacy.py).
    demo.add_argument("--shipments", type=int, default=30_000)
    demo.add_argument("--seed", type=int, default=7, help="the same seed gives the same data")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if data exists")
    demo.set_defaults(func=_seed_demo)

    rebuild = sub.add_parser(
        "rebuild-rollups", help="recompute the reports' day cells from the stops"
    )
    rebuild.add_argument(
        "--parallel",
        type=int,
        choices=range(1, 9),  # within the connection pool (10), with room for the server
        metavar="N (1-8)",
        default=1,
        help="rounds of days computed at once on PostgreSQL (each takes a server core); "
        "SQLite always computes one at a time",
    )
    rebuild.set_defaults(func=_rollups)
    sub.add_parser(
        "verify-rollups",
        help="refresh marked day cells, then compare each with its stops (exit 1 if any differ)",
    ).set_defaults(func=_rollups)

    dispatch = sub.add_parser(
        "dispatch",
        help="send the webhooks' messages (with WEBHOOK_DISPATCHER=external on the servers)",
    )
    dispatch.add_argument("--once", action="store_true", help="send what is due now, then stop")
    dispatch.set_defaults(func=_dispatch)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except Exception as exc:  # a clear one-line message instead of a trace for operators
        from app.errors import AppError

        if isinstance(exc, AppError):
            sys.exit(f"clearance: {exc.detail}")
        raise


if __name__ == "__main__":
    main()
