"""Static assets a phone fetches once: URLs that name their content.

Each asset (a file of its directory, or a generated one such as words.js) has a
fingerprint, the first 12 hex digits of the SHA-256 of its bytes, computed once per process.
`/static/web/driver.3fa2c1e09b7d.js` is answered with `Cache-Control: public,
max-age=31536000, immutable` when 3fa2c1e09b7d is driver.js's fingerprint: the browser
never asks again, and a deploy changes the URLs of exactly the assets that changed. The
pages, the driver's manifest and its service worker name their assets that way
(`with_asset_urls`, applied as they are served).

The plain name (`/static/web/driver.js`) still answers, with `Cache-Control: no-cache` and an
ETag, so a client asking again gets a 304: for anything naming an asset by hand (an outside
link, a page of another feature, Swagger UI's files under /static/docs). So does a
fingerprint that is no longer the file's (a page loaded before a deploy, a rolling restart
where workers differ): the current file, revalidated, never kept as immutable.
"""

import hashlib
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_FINGERPRINTED = re.compile(r"(?P<stem>[^/]+)\.(?P<fingerprint>[0-9a-f]{12})(?P<suffix>\.\w+)")


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def etag_matches(request_headers: Mapping[str, str], etag: str) -> bool:
    """Whether the client's If-None-Match names `etag` (weak or strong, as for GET)."""
    given = request_headers.get("if-none-match", "")
    return etag in (tag.strip().removeprefix("W/") for tag in given.split(","))


class Generated:
    """An asset made in Python, not read from a file."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body, self.media_type = body, media_type
        self.etag = f'"{fingerprint(body)}"'


class Assets(StaticFiles):
    """StaticFiles for one flat directory (plus `generated` assets), at `prefix`, that
    answers fingerprinted names as immutable and plain names as revalidated."""

    def __init__(
        self, directory: Path, *, prefix: str, generated: Mapping[str, Generated] | None = None
    ) -> None:
        super().__init__(directory=directory)
        self.root, self.prefix, self.generated = directory, prefix, dict(generated or {})

    @cached_property
    def fingerprints(self) -> dict[str, str]:
        """Name → fingerprint of every asset, read once (the files change with a deploy)."""
        found = {
            path.name: fingerprint(path.read_bytes())
            for path in self.root.iterdir()
            if path.is_file()
        }
        found.update((name, fingerprint(asset.body)) for name, asset in self.generated.items())
        return found

    def url(self, name: str) -> str:
        """The asset's fingerprinted URL (KeyError for an asset that does not exist)."""
        stem, suffix = name.rsplit(".", 1)
        return f"{self.prefix}/{stem}.{self.fingerprints[name]}.{suffix}"

    def with_asset_urls(self, text: str) -> str:
        """`text` (a page, a manifest, a script) with every plain URL of an existing asset
        of this directory made fingerprinted."""
        reference = re.compile(re.escape(self.prefix) + r"/([\w-]+\.\w+)\b")
        return reference.sub(
            lambda found: self.url(found[1]) if found[1] in self.fingerprints else found[0], text
        )

    async def get_response(self, path: str, scope: Scope) -> Response:
        name, given = path, None
        if matched := _FINGERPRINTED.fullmatch(path):
            name, given = matched["stem"] + matched["suffix"], matched["fingerprint"]
        if name in self.generated and scope["method"] in ("GET", "HEAD"):
            response = self._generated(self.generated[name], scope)
        else:
            response = await super().get_response(name, scope)
        current = given is not None and given == self.fingerprints.get(name)
        response.headers["cache-control"] = IMMUTABLE if current else REVALIDATE
        return response

    def _generated(self, asset: Generated, scope: Scope) -> Response:
        if etag_matches(Headers(scope=scope), asset.etag):
            return Response(status_code=304, headers={"etag": asset.etag})
        return Response(asset.body, media_type=asset.media_type, headers={"etag": asset.etag})
