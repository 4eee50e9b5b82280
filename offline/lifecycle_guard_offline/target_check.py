"""Before a command works on a portal: is anything listening at the URL, and does it speak HubSpot's API?

Inside a run these failures surface late and badly: nothing listening costs every request its connect timeout and
every retry (over two minutes before the first step gives up), and a server that is not HubSpot answers "HTTP 404".
So the CLI connects first (a few seconds at most), then reads the two lifecycle-stage properties the run starts with
anyway - which it needs to resolve stage labels in the config - and names what is wrong in words.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from lifecycle_guard.crm import AuthenticationFailed, HubSpotError, MissingScopes
from lifecycle_guard.gateway import HubSpotGateway
from lifecycle_guard.objects import LIFECYCLE_STAGE, ObjectType
from lifecycle_guard.stages import StageCatalog

CONNECT_SECONDS = 3.0
CHECK_ATTEMPTS = 2  # a 5xx is retried once: a server that keeps failing is reported, not waited out


class TargetError(Exception):
    """The portal cannot be used as given: unreachable, not a HubSpot API, or the token is refused."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.hint = hint


def check_reachable(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{url!r} is not an http(s) URL", "pass the API's base URL, e.g. https://api.hubapi.com")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_SECONDS).close()
    except ConnectionRefusedError:
        raise TargetError(f"connection refused at {url}", _NOT_LISTENING) from None
    except socket.gaierror:
        raise TargetError(f"cannot resolve {parts.hostname} (from {url})", "check the host name") from None
    except TimeoutError:
        raise TargetError(f"no answer from {url} within {CONNECT_SECONDS:g} s", _NOT_LISTENING) from None
    except OSError as exc:
        raise TargetError(f"cannot connect to {url}: {exc.strerror or exc}", _NOT_LISTENING) from None


_NOT_LISTENING = "is the URL right, and the server up? (`lifecycle-guard sandbox` prints a sandbox's URL)"


def read_stage_catalogs(url: str, token: str, requests_per_10s: int) -> dict[ObjectType, StageCatalog]:
    """The portal's lifecycle stages per object type; TargetError if the answer is not HubSpot's."""
    check_reachable(url)
    gateway = HubSpotGateway(token, base_url=url, requests_per_10s=requests_per_10s, max_attempts=CHECK_ATTEMPTS)
    catalogs = {}
    for object_type in (ObjectType.CONTACTS, ObjectType.COMPANIES):  # contacts first: the path people try by hand
        path = f"/crm/v3/properties/{object_type.value}/{LIFECYCLE_STAGE}"
        try:
            catalog = gateway.crm.stage_catalog(object_type)
        except AuthenticationFailed as exc:
            raise TargetError(str(exc), CHECK_CREDENTIALS) from None
        except MissingScopes as exc:
            raise TargetError(
                f"{url} refused to read {path} (403): {exc}", "give the private app the crm.objects.* read scopes"
            ) from None
        except HubSpotError as exc:
            if not exc.status:  # connected, then no HTTP answer (TLS, a reset): nothing to tell about the server
                raise TargetError(f"{url} did not answer {path}: {exc}", _NOT_LISTENING) from None
            if exc.status >= 500:
                raise TargetError(f"{url} answered {exc.status} for {path}: {exc}", "re-run later") from None
            raise TargetError(f"{url} answered {exc.status} for {path}: is this a HubSpot API?", _BASE_URL) from None
        if not catalog.stages:
            raise TargetError(f"{url} answered {path} without lifecycle stages: is this a HubSpot API?", _BASE_URL)
        catalogs[object_type] = catalog
    return {object_type: catalogs[object_type] for object_type in ObjectType}


CHECK_CREDENTIALS = "check --token (or HUBSPOT_TOKEN): the access token of a private app in this portal"
_BASE_URL = "--hubspot-url is the API's base URL, without a path (e.g. https://api.hubapi.com)"
