# Slim, non-root image: migrates the database, then serves with uvicorn on port 8000.
#   docker build -t clearance .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=postgresql+psycopg://... clearance
# Installs exactly the versions (and sha256s) of requirements.lock, the ones the tests ran with.
FROM python:3.11-slim AS build
RUN python -m venv /opt/clearance
WORKDIR /build
COPY requirements.lock ./
RUN /opt/clearance/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
# The project alone, built with the setuptools the lock pinned.
RUN /opt/clearance/bin/pip install --no-cache-dir --no-deps --no-build-isolation .

FROM python:3.11-slim
# One malloc arena: the report threads' short-lived arrays otherwise leave each thread's
# arena holding freed memory; at 10M stops a worker's peak RSS drawing the dashboard went
# from 1,590 to 1,139 MB with two arenas (session 8), and with one and one report at a time
# (REPORT_CONCURRENCY) to about 300 MB (bench/RESULTS.md, session 13).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/clearance/bin:$PATH \
    ENVIRONMENT=production \
    MALLOC_ARENA_MAX=1
# The bulletins' PDFs (WeasyPrint): pango and harfbuzz lay text out in Debian's Noto fonts,
# Latin and Arabic script; the same packages as scripts/_env.sh's SYSTEM_PACKAGES.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --create-home --home-dir /srv/app clearance
WORKDIR /srv/app
COPY --from=build /opt/clearance /opt/clearance
COPY alembic.ini ./
COPY migrations ./migrations
RUN mkdir -p data && chown clearance:clearance data
USER clearance
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"
CMD ["clearance", "serve", "--host", "0.0.0.0", "--port", "8000"]
