"""Build the HTTP transport for one side (source or destination) from its settings.

Every engine (Elasticsearch 7/8/9, OpenSearch 1-3, AWS managed domains) is spoken to through the
``elasticsearch`` package's transport layer with plain JSON: the package's typed API methods add
compatibility headers and a product check that OpenSearch, AWS and ES 7 refuse (see
docs in README, "How it talks to the engines"). The transport keeps the node pool (failover across
seeds), retries, TLS and auth plumbing.

All seeds of a side form one pool. Auth is one of: none, basic, api_key, sigv4 (requests-aws4auth
over boto3's refreshable credentials, service ``es``); each is a requests auth object on the
session of every node, so that all kinds take the same path.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import ssl
import warnings
from collections.abc import Callable
from urllib.parse import urlsplit

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, RequestsHttpNode, Transport
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from requests.utils import get_environ_proxies
from urllib3.exceptions import InsecureRequestWarning

from .config import SideConfig
from .errors import ConfigError

logger = logging.getLogger(__name__)

NodeFailureHook = Callable[[str, Exception], None]

_AWS_HOST = re.compile(r"\.([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)\.(?:es|aoss)\.amazonaws\.com(?:\.cn)?$")


def region_from_host(url: str) -> str | None:
    """The AWS region named in an AWS managed domain's endpoint (``*.eu-west-1.es.amazonaws.com``)."""
    host = urlsplit(url).hostname or ""
    match = _AWS_HOST.search(host)
    return match.group(1) if match else None


def _check_ca_file(side: SideConfig) -> None:
    try:
        ssl.create_default_context(cafile=side.ca_certs)
    except (ssl.SSLError, OSError) as err:
        raise ConfigError(
            f"[{side.name}] ca_certs {side.ca_certs} cannot be loaded as PEM certificates: {err}"
        ) from err


def _verify_setting(side: SideConfig) -> bool | str:
    """requests' ``verify``: False when off, else ``ca_certs``, else the environment's CA bundle."""
    if not side.verify_certs:
        return False
    return side.ca_certs or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _node_class(side: SideConfig, auth: AuthBase | None, on_failure: NodeFailureHook | None) -> type[RequestsHttpNode]:
    """A requests-based node with the side's auth, proxy and certificate checks, that reports
    connection failures."""
    proxy = side.proxy

    class Node(RequestsHttpNode):
        @property
        def base_url(self) -> str:
            # No default port in the URL: through an HTTP proxy it would go on the wire as
            # "Host: name:80" while a SigV4 signature covers "name".
            if _DEFAULT_PORTS.get(self.scheme) != self.port:
                return super().base_url
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{self.scheme}://{host}{self.path_prefix}"

        def __init__(self, config):
            super().__init__(config)
            self.session.auth = auth
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's verify and
            # ca_certs (even verify off); so the environment is read here once, with the config first.
            self.session.trust_env = False
            self.session.mount(f"{self.scheme}://", HTTPAdapter(pool_maxsize=config.connections_per_node))
            self.session.verify = _verify_setting(side)
            self.session.proxies = {"http": proxy, "https": proxy} if proxy else get_environ_proxies(self.base_url)

        def perform_request(self, *args, **kwargs):
            try:
                return super().perform_request(*args, **kwargs)
            except (TransportConnectionError, ConnectionTimeout) as err:  # refused, DNS, TLS, and timeouts
                if on_failure is not None:
                    on_failure(self.base_url, err)
                raise

    return Node


class ApiKeyAuth(AuthBase):
    """``Authorization: ApiKey <base64(id:key)>``; takes the encoded key or ``id:key``."""

    def __init__(self, key: str):
        encoded = base64.b64encode(key.encode()).decode() if ":" in key else key
        self._header = f"ApiKey {encoded}"

    def __call__(self, request):
        request.headers["Authorization"] = self._header
        return request


def request_auth(side: SideConfig, fallback_region: str | None) -> AuthBase | None:
    """The requests auth object for the side's auth kind (None for ``none``).

    Every kind goes through the requests session: the elasticsearch package adds its own
    basic/API-key headers only in its typed API, which we do not use.
    """
    if side.auth == "basic":  # as UTF-8, as the engines read it (requests would use Latin-1, or fail)
        return HTTPBasicAuth(side.username.encode("utf-8"), side.password.encode("utf-8"))
    if side.auth == "api_key":
        return ApiKeyAuth(side.api_key)
    if side.auth == "sigv4":
        return sigv4_auth(side, fallback_region)
    return None


def sigv4_auth(side: SideConfig, fallback_region: str | None):
    """A requests auth object that signs with SigV4 for service ``es``.

    Credentials: the side's static keys when set, else boto3's chain (environment, ``aws_profile``
    or the default profile, instance role); they are refreshed when temporary. Region: the side's
    ``aws_region``, else the one in the first seed's AWS host name, else ``fallback_region``
    ([aws_s3_config] aws_region), else boto3's default region. Raises ConfigError when no
    credentials or no region can be found.
    """
    import boto3  # imported here: only SigV4 users pay for it
    import botocore.exceptions
    from requests_aws4auth import AWS4Auth

    try:
        session = boto3.Session(
            profile_name=side.aws_profile if not side.aws_access_key else None,
            aws_access_key_id=side.aws_access_key,
            aws_secret_access_key=side.aws_secret_key,
            aws_session_token=side.aws_session_token,
        )
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound as err:
        raise ConfigError(f"[{side.name}] aws_profile: {err}") from err
    except botocore.exceptions.BotoCoreError as err:
        raise ConfigError(f"[{side.name}] AWS credentials could not be loaded: {err}") from err
    if credentials is None:
        raise ConfigError(
            f"[{side.name}] auth = sigv4 found no AWS credentials: set aws_access_key/aws_secret_key, "
            "aws_profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment"
        )
    region = side.aws_region or region_from_host(side.seeds[0]) or fallback_region or session.region_name
    if not region:
        raise ConfigError(f"[{side.name}] aws_region is missing (auth = sigv4 needs the domain's region)")
    logger.debug("%s: signing with SigV4 for region %s", side.name, region)
    return AWS4Auth(refreshable_credentials=credentials, region=region, service="es")


class NotJson:
    """A response body that was announced as JSON but is not: kept as text, so that the caller can
    say what it got in one line instead of failing with a parser's traceback."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"NotJson({self.text[:60]!r})"


def _serializers() -> dict:
    """JSON out as usual; answers that do not parse come back as ``NotJson`` or text, never raise."""
    from elastic_transport import JsonSerializer, NdjsonSerializer, TextSerializer

    class TolerantJson(JsonSerializer):
        def loads(self, data: bytes):
            if not data:
                return None
            try:
                return super().loads(data)
            except Exception:  # SerializationError, or a decode error inside it
                return NotJson(data.decode("utf-8", "replace"))

    class AnyText(TextSerializer):
        mimetype = "*/*"

        def loads(self, data: bytes):
            return data.decode("utf-8", "replace") if data else None

    text = AnyText()
    return {
        "application/json": TolerantJson(),
        "application/x-ndjson": NdjsonSerializer(),  # request bodies of _msearch / _bulk
        "text/*": text,
        "application/*": text,  # html, xml, octet-stream from gateways and load balancers
    }


def build_transport(
    side: SideConfig, *, fallback_region: str | None = None, on_node_failure: NodeFailureHook | None = None
) -> Transport:
    """Return a transport over every seed of ``side``, with its auth, TLS and proxy.

    Timeouts and retries are set per request by ``Cluster.request`` (the transport's own defaults
    would apply otherwise). ``on_node_failure(base_url, error)`` is called each time a seed cannot
    be reached. Raises ConfigError for settings that cannot be turned into a client.
    """
    from elastic_transport.client_utils import url_to_node_config

    if not side.verify_certs:
        warnings.simplefilter("ignore", InsecureRequestWarning)  # the cli warns once, in words
    if side.ca_certs:
        _check_ca_file(side)
    auth = request_auth(side, fallback_region)
    try:
        configs = [
            url_to_node_config(seed, use_default_ports_for_scheme=True).replace(
                request_timeout=side.request_timeout, http_compress=False, ssl_show_warn=False
            )
            for seed in side.seeds
        ]
        return Transport(
            configs,
            node_class=_node_class(side, auth, on_node_failure),
            serializers=_serializers(),
            max_retries=max(2, len(side.seeds)),
            retry_on_timeout=True,
            meta_header=False,
        )
    except (ValueError, OSError) as err:
        raise ConfigError(f"cannot build a client for the {side.name} cluster: {err}") from err
