"""Outbound requests to URLs that clients chose (webhook targets, input files).

A client-chosen URL must not make our servers talk to our own network
(SSRF): the host is resolved once, every address is checked, and the
connection goes to the checked address (so a DNS answer that changes between
the check and the connect cannot slip through). Private, loopback,
link-local, shared, reserved and multicast addresses are refused unless the
caller allows them (a development setting). Redirects are never followed.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3

ALLOWED_SCHEMES = ("http", "https")


class UnsafeUrl(ValueError):
    """The URL is malformed or points somewhere we refuse to connect to."""


class FetchFailed(Exception):
    """The target was allowed but the request did not complete."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class SafeResponse:
    status: int
    headers: dict
    body: bytes


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str, *, allow_private: bool) -> Target:
    """Parse, resolve and vet a URL; raise UnsafeUrl with the reason."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("must be an absolute http(s) URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise UnsafeUrl("must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise UnsafeUrl("must not contain credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"host {parts.hostname!r} does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeUrl(f"host {parts.hostname!r} does not resolve")
    if not allow_private:
        refused = [a for a in addresses if not address_is_public(a)]
        if refused:
            raise UnsafeUrl(f"points to a private, loopback or link-local address ({refused[0]})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path, address=addresses[0])


def safe_request(
    method: str,
    url: str,
    *,
    allow_private: bool,
    timeout: float,
    max_bytes: int,
    body: bytes | None = None,
    headers: dict | None = None,
) -> SafeResponse:
    """One request to the vetted address of `url`; the body is read up to
    `max_bytes` (more is an error). Raises UnsafeUrl or FetchFailed."""
    target = url_check(url, allow_private=allow_private)
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header += f":{target.port}"
    kwargs = {"timeout": urllib3.Timeout(connect=min(timeout, 10.0), read=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **kwargs,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **kwargs)
    try:
        response = pool.urlopen(
            method,
            target.path,
            body=body,
            headers={"Host": host_header, **(headers or {})},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            chunks, size = [], 0
            for chunk in response.stream(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchFailed(f"response larger than {max_bytes} bytes")
                chunks.append(chunk)
            return SafeResponse(
                status=response.status,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=b"".join(chunks),
            )
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        pool.close()
