"""gzip across the service (app/compression.py) and assets fetched once (app/web/assets.py),
over HTTP through the app."""

import gzip
import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from app import compression
from app.compression import MINIMUM_BYTES, THREAD_BYTES
from app.security_headers import HEADERS as SECURITY_HEADERS
from app.web.assets import IMMUTABLE, Assets
from app.web.router import STATIC
from tests.factories import API, admin, make_checkpoint

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
PAGES = ["/dashboard", "/driver", "/"]


def raw(client: TestClient, path: str, headers: dict[str, str]) -> httpx.Response:
    """The answer as it travels: the body's bytes read without httpx decoding them."""
    with client.stream("GET", path, headers=headers) as response:
        response._content = b"".join(response.iter_raw())
    return response


def assert_compressed_as(client: TestClient, path: str, headers: dict[str, str]) -> bytes:
    """`path` comes gzip-compressed, with every header the service adds, and decompresses
    to exactly the bytes it has uncompressed. Returns those bytes."""
    plain = raw(client, path, {**headers, **IDENTITY})
    assert plain.status_code == 200, plain.text
    assert "content-encoding" not in plain.headers
    squeezed = raw(client, path, {**headers, **GZIP, "X-Request-ID": "gzip-test-42"})
    assert squeezed.status_code == 200
    assert squeezed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in squeezed.headers["vary"]
    assert gzip.decompress(squeezed.content) == plain.content
    assert len(squeezed.content) < len(plain.content)
    if "content-length" in squeezed.headers:  # absent when streamed: chunked
        assert int(squeezed.headers["content-length"]) == len(squeezed.content)
    # Compression sits inside RequestMiddleware: its headers are still there.
    assert squeezed.headers["x-request-id"] == "gzip-test-42"
    for name, value in SECURITY_HEADERS.items():
        assert squeezed.headers[name.decode()] == value.decode(), name
    return plain.content


def test_a_large_json_answer_is_compressed(client: TestClient) -> None:
    boss = admin(client)
    for _ in range(4):
        make_checkpoint(client, boss)
    body = assert_compressed_as(client, f"{API}/checkpoints", boss.headers)
    assert len(body) > MINIMUM_BYTES
    assert body.startswith(b"{")


def test_a_json_answer_over_128_kib_is_compressed_off_the_event_loop(client: TestClient) -> None:
    body = assert_compressed_as(client, "/openapi.json", {})
    assert len(body) > THREAD_BYTES
    assert json.loads(body)["openapi"]


def test_a_streamed_file_is_compressed_chunk_by_chunk(client: TestClient) -> None:
    path = "/static/docs/swagger-ui-bundle.js"
    squeezed = raw(client, path, GZIP)
    assert "content-length" not in squeezed.headers  # over 64 KiB: streamed
    assert len(assert_compressed_as(client, path, {})) > 64 * 1024


@pytest.mark.parametrize("path", PAGES)
def test_a_page_is_compressed(client: TestClient, path: str) -> None:
    assert b"<!doctype html>" in assert_compressed_as(client, path, {})


def test_a_script_is_compressed_at_its_fingerprinted_url(client: TestClient) -> None:
    url = script_urls(client.get("/driver").text)[-1]
    assert re.fullmatch(r"/static/web/driver\.[0-9a-f]{12}\.js", url), url
    assert assert_compressed_as(client, url, {}) == (STATIC / "driver.js").read_bytes()


def test_a_small_answer_is_left_as_it_is(client: TestClient) -> None:
    answer = raw(client, "/healthz", GZIP)
    assert answer.status_code == 200
    assert len(answer.content) < MINIMUM_BYTES
    assert "content-encoding" not in answer.headers
    assert answer.json() == {"status": "ok"}
    assert answer.headers["x-request-id"]


def test_an_image_is_not_compressed_again(client: TestClient) -> None:
    png = (STATIC / "icon-512.png").read_bytes()
    assert len(png) > MINIMUM_BYTES
    answer = raw(client, "/static/web/icon-512.png", GZIP)
    assert answer.status_code == 200
    assert "content-encoding" not in answer.headers
    assert answer.content == png


def test_a_spreadsheet_export_is_not_compressed_again(client: TestClient) -> None:
    boss = admin(client)
    plain = raw(client, f"{API}/reports/checkpoints?format=xlsx", {**boss.headers, **GZIP})
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "content-encoding" not in plain.headers
    assert plain.content.startswith(b"PK")  # a zip, as stored


# --- assets fetched once -----------------------------------------------------------------


def script_urls(html: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', html)


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


@pytest.mark.parametrize("path", PAGES)
def test_every_asset_a_page_names_exists_and_is_immutable(client: TestClient, path: str) -> None:
    urls = asset_urls(client.get(path).text)
    assert urls
    for url in urls:
        assert re.fullmatch(r"/static/web/[\w-]+\.[0-9a-f]{12}\.\w+", url), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == IMMUTABLE, url


def test_the_generated_words_have_a_fingerprint_and_an_etag(client: TestClient) -> None:
    (url,) = [u for u in script_urls(client.get("/dashboard").text) if "/words." in u]
    fingerprinted = client.get(url)
    plain = client.get("/static/web/words.js")
    assert fingerprinted.content == plain.content
    assert fingerprinted.headers["cache-control"] == IMMUTABLE
    assert plain.headers["cache-control"] == "no-cache"
    again = client.get("/static/web/words.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("path", ["/static/web/driver.js", "/static/docs/swagger-ui.css"])
def test_a_plain_asset_url_is_revalidated_by_its_etag(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/driver", "/driver/sw.js", "/driver/manifest.webmanifest"])
def test_a_shell_is_revalidated_by_its_etag(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_service_worker_keeps_the_assets_the_page_names(client: TestClient) -> None:
    page = set(asset_urls(client.get("/driver").text))
    worker = set(re.findall(r'"(/static/[^"]+)"', client.get("/driver/sw.js").text))
    manifest = {icon["src"] for icon in client.get("/driver/manifest.webmanifest").json()["icons"]}
    assert page <= worker
    assert manifest <= worker


def test_a_fingerprint_changes_with_its_file_and_an_old_one_is_not_kept(tmp_path: Path) -> None:
    (tmp_path / "board.js").write_text("console.log('one');")
    before, assets = client_of(tmp_path)
    old_url = assets.url("board.js")
    assert before.get(old_url).headers["cache-control"] == IMMUTABLE

    (tmp_path / "board.js").write_text("console.log('two');")  # a deploy
    after, assets = client_of(tmp_path)
    new_url = assets.url("board.js")
    assert new_url != old_url
    current = after.get(new_url)
    assert (current.text, current.headers["cache-control"]) == ("console.log('two');", IMMUTABLE)
    # A page from before the deploy still gets the file, but no browser keeps it for a year.
    stale = after.get(old_url)
    assert (stale.text, stale.headers["cache-control"]) == ("console.log('two');", "no-cache")
    # A name that is no asset is still a 404.
    assert after.get("/assets/other.0123456789ab.js").status_code == 404


def client_of(directory: Path) -> tuple[TestClient, Assets]:
    """A bare app that serves `directory` as the service serves its assets (a new process)."""
    assets = Assets(directory, prefix="/assets")
    app = FastAPI()
    app.mount("/assets", assets)
    return TestClient(app), assets


def test_svg_is_compressed_and_an_answer_keeps_its_own_vary_and_encoding() -> None:
    """The middleware's rules on a bare app: SVG is text; a Vary of the answer's own is kept
    (Accept-Encoding added once); an answer already encoded is left alone."""
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"<path d='M0 0L1 1'/>" * 100 + b"</svg>"
    app = FastAPI()

    @app.get("/map.svg")
    def drawing() -> Response:
        return Response(svg, media_type="image/svg+xml", headers={"Vary": "Origin"})

    @app.get("/varies")
    def varies() -> Response:
        return Response(svg, media_type="text/plain", headers={"Vary": "Accept-Encoding"})

    @app.get("/encoded")
    def encoded() -> Response:
        body = gzip.compress(svg)
        return Response(body, media_type="text/plain", headers={"Content-Encoding": "gzip"})

    compression.install(app)
    client = TestClient(app)
    drawn = raw(client, "/map.svg", GZIP)
    assert drawn.headers["content-encoding"] == "gzip"
    assert gzip.decompress(drawn.content) == svg
    assert drawn.headers["vary"] == "Origin, Accept-Encoding"
    assert raw(client, "/varies", GZIP).headers["vary"] == "Accept-Encoding"
    already = raw(client, "/encoded", GZIP)
    assert gzip.decompress(already.content) == svg  # compressed once, not twice
