"""hub: a realtime event hub on Socket.IO, with topics, one envelope, a durable queue and plugins.

Plugins import what they need from here: ``from hub import hookimpl, TopicKind``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .auth import Principal
from .connection import Connection, Subscription
from .database import Database, WriteBatcher
from .envelope import Envelope
from .errors import (
    AuthExpired, AuthInvalid, AuthRequired, Conflict, Forbidden, HubError, InternalError,
    InvalidMessage, InvalidTopic, LimitExceeded, NotFound, RateLimited, TooLarge, Unavailable, UnknownTopic,
    UnsupportedMediaType,
)
from .hookcalls import Contribution, PluginError
from .hookspecs import hookimpl
from .topics import (
    Policy, Retention, SnapshotProvider, SubscriptionPolicy, SubscriptionSnapshot, TopicKind, anyone, nobody,
    owner_or_admin, with_roles,
)
from .types import ClientRequest, Hub, RequestHandler
from .views import SAME, Form, ParamsParser, View, ViewResult

from .api import JSONResponse, read_json  # noqa: E402
from .config import ConfigError, Settings  # noqa: E402
from .envelope import utc_timestamp  # noqa: E402
from .jsoncodec import JSONDecodeError, JSONEncodeError, decode_json, encode_json  # noqa: E402
from .openapi import describe  # noqa: E402
from .metrics import MetricError, MetricFamily, MetricSample  # noqa: E402
from .panels import ConsolePanel  # noqa: E402
from .multipart import MultipartLimits, MultipartReceiver, receive_multipart  # noqa: E402
from .plugin_config import InvalidSetting, config_defaults, load_plugin_config, setting  # noqa: E402
from .services import ServiceError, Services  # noqa: E402

__all__ = [
    "AuthExpired", "AuthInvalid", "AuthRequired", "ClientRequest", "Conflict", "Connection", "Contribution",
    "Envelope", "Forbidden", "Hub", "HubError", "InternalError", "InvalidMessage", "InvalidTopic", "LimitExceeded", "NotFound",
    "PluginError", "Policy", "Principal", "RateLimited", "RequestHandler", "Retention", "SnapshotProvider",
    "TooLarge", "TopicKind", "Unavailable", "UnknownTopic", "UnsupportedMediaType", "__version__",
    "anyone", "hookimpl", "nobody", "owner_or_admin", "with_roles",
    "Database", "JSONResponse", "Settings", "WriteBatcher", "describe", "read_json", "utc_timestamp",
    "ConsolePanel", "MetricError", "MetricFamily", "MetricSample",
    "ConfigError", "InvalidSetting", "MultipartLimits", "MultipartReceiver", "ServiceError", "Services",
    "JSONDecodeError", "JSONEncodeError", "decode_json", "encode_json",
    "config_defaults", "load_plugin_config", "receive_multipart", "setting",
    "SAME", "Form", "ParamsParser", "Subscription", "SubscriptionPolicy", "SubscriptionSnapshot", "View",
    "ViewResult",
]
