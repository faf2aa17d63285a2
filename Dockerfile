# Slim, non-root image: migrates the database, then serves with uvicorn on port 8000.
#   docker build -t clearance .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=postgresql+psycopg://... clearance
FROM python:3.11-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production
RUN useradd --system --uid 10001 --create-home --home-dir /srv/app clearance
WORKDIR /srv/app
COPY --from=build /install /usr/local
COPY alembic.ini ./
COPY migrations ./migrations
RUN mkdir -p data && chown clearance:clearance data
USER clearance
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"
CMD ["clearance", "serve", "--host", "0.0.0.0", "--port", "8000"]
