"""Which addresses a webhook may be sent to: public ones only (server-side request forgery).

A registered URL is the exporter's choice of where our server connects. Unchecked, it could
reach the loopback interface, the private network behind the server, or a cloud's metadata
service (which hands out credentials). So every address the host resolves to must be public,
unless WEBHOOK_ALLOW_PRIVATE is set (tests reach their own receiver on 127.0.0.1; an intranet
deployment may need it).

The check runs at registration (`check_endpoint_url`, a clear 422) and again before every
delivery (`allowed_addresses`): a DNS answer can change after registration (DNS rebinding),
so the dispatcher connects only to an address this module returned for that delivery.
"""

import ipaddress
import re
import socket
from urllib.parse import SplitResult, urlsplit

from app.errors import InvalidInput

MAX_URL_CHARS = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: AWS/GCP/Azure/OpenStack (and AWS's IPv6 one), Alibaba Cloud.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64's well-known prefix: the last 32 bits are an IPv4 address the gateway reaches.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


class RefusedAddress(Exception):
    """The host may not be sent to; the message says why."""


def refusal(ip: IPAddress) -> str | None:
    """Why a message may not go to `ip` ("a private address 10.0.0.5"), or None."""
    if ip in METADATA:
        return f"a cloud metadata address {ip}"
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 form that carries an IPv4 address reaches that address: judge that one.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            why = refusal(embedded)
            return f"{why} (inside {ip})" if why else None
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT, "a shared (CGNAT) address"),
        (ip.is_private, "a private address"),
        # fec0::/10, deprecated but still routed inside some networks; `is_global` says yes.
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (ip.is_reserved, "a reserved address"),
        # Whatever else is not routable on the internet (documentation ranges, benchmarking …).
        (not ip.is_global, "a non-public address"),
    )
    return next((f"{what} {ip}" for refused, what in checks if refused), None)


def allowed_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses `host` resolves to (an IP literal: itself), if every one may be sent
    to. Raises RefusedAddress ("resolves to a private address 10.0.0.5", "does not
    resolve") if it does not resolve or if ANY of them is refused: a name with one public
    and one private address must not be a way in."""
    literal = _ip_literal(host)
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise RefusedAddress("does not resolve") from exc
        # sockaddr[0] of an IPv6 link-local answer may carry a zone ("fe80::1%eth0").
        found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise RefusedAddress("does not resolve")
    addresses = list(dict.fromkeys(found))
    if not allow_private:
        for ip in addresses:
            why = refusal(ip)
            if why:
                raise RefusedAddress(f"{'is' if literal is not None else 'resolves to'} {why}")
    return [str(ip) for ip in addresses]


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def check_endpoint_url(url: str, *, allow_private: bool, require_https: bool) -> str:
    """The URL as stored, if an endpoint may have it; else InvalidInput on `body.url`.

    Normalised: scheme and host lower-case, the host in its ASCII (IDNA) form; the port,
    path and query as given. Resolves the host (a DNS lookup), so call it outside any
    write transaction."""
    if len(url) > MAX_URL_CHARS:
        raise _invalid(f"The URL has {len(url)} characters; at most {MAX_URL_CHARS}.")
    if _UNSAFE.search(url):
        raise _invalid("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(f"The URL cannot be parsed: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid("The URL must be http:// or https://.")
    if scheme == "http" and require_https:
        raise _invalid("The URL must be https:// in production.")
    if parts.username is not None or parts.password is not None:
        raise _invalid(
            "The URL may not carry credentials (user:password@): the signature "
            "authenticates us, and a URL is shown and logged."
        )
    if "#" in url:
        raise _invalid("The URL may not have a fragment (#…): it is never sent.")
    host = _ascii_host(parts.hostname)
    try:
        allowed_addresses(
            host, port or (443 if scheme == "https" else 80), allow_private=allow_private
        )
    except RefusedAddress as exc:
        named = "" if _ip_literal(host) is not None else f" {host}"
        raise _invalid(
            f"The URL's host{named} {exc}: webhooks go to public addresses only "
            "(WEBHOOK_ALLOW_PRIVATE lets an operator allow private ones)."
        ) from exc
    return _rebuild(parts, scheme, host, port)


def _ascii_host(hostname: str | None) -> str:
    if not hostname:
        raise _invalid("The URL has no host.")
    if _ip_literal(hostname) is not None:
        return hostname
    try:
        return hostname.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise _invalid("The URL's host is not a valid domain name.") from exc


def _rebuild(parts: SplitResult, scheme: str, host: str, port: int | None) -> str:
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(
        message, errors=[{"loc": ["body", "url"], "msg": message, "type": "value_error"}]
    )
