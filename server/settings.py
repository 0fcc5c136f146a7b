"""Configuration from ``UNKNOT_*`` environment variables, in one typed Struct."""

from __future__ import annotations

import difflib
import ipaddress
import os
import typing
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = ["DEFAULT_DATA_DIR", "PROJECT_ROOT", "Settings", "SettingsError", "unknown_variables"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# UNKNOT_DATA_DIR when it is not set: relative, so taken from the folder a command runs in.
DEFAULT_DATA_DIR = "var"


class Settings(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting, with its default. Each field ``x`` is read from ``UNKNOT_X``."""

    # SQLite file path (or sqlite:///path); postgresql://... selects PostgreSQL.
    database_url: str = "var/unknot.db"
    # PostgreSQL: connections each app process keeps at most. A process runs its requests on one
    # Python thread, which a few connections keep busy; more only add backends competing for the
    # database's cores (measured: 4 gave two processes 1.2-1.4x the throughput of 10).
    database_pool_size: Annotated[int, Meta(ge=1, le=100)] = 4
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # One line per request (method, path, status): handy for operators, costs throughput.
    access_log: bool = False
    # "production" turns on Secure cookies and HSTS.
    env: Literal["development", "production"] = "development"
    plans_dir: str = str(PROJECT_ROOT / "plans")
    pwa_dir: str = str(PROJECT_ROOT / "pwa")
    # Folder for the VAPID key pair and other generated secrets.
    data_dir: str = DEFAULT_DATA_DIR
    # The address patients' phones use to reach the app (invite links, QR codes); by default the
    # address the app listens on (127.0.0.1 when it listens on every interface).
    # The site's root: the app asks for /api/v1/... and /sw.js there, so it cannot live under a path.
    public_url: Annotated[str, Meta(pattern=r"^https?://[^/\s]+/?$")] = ""
    # Which cold or warm advice the aftercare card shows; sources disagree, so the clinic picks.
    aftercare_temperature: Literal["heat", "ice", "neither"] = "neither"
    # Printed on the patient's plan with the therapist's name: the warning signs say "contact the
    # clinic", and paper is all a patient without a working phone has.
    clinic_name: Annotated[str, Meta(max_length=100, pattern=_ONE_LINE)] = ""
    clinic_phone: Annotated[str, Meta(max_length=40, pattern=_ONE_LINE)] = ""
    max_body_bytes: Annotated[int, Meta(ge=1024, le=10_485_760)] = 262_144
    # Contact the push services may use (Apple's rejects placeholders): mailto: or https:.
    vapid_contact: Annotated[str, Meta(pattern=r"^(mailto:\S+@\S+|https://\S+)$")] = (
        "mailto:admin@localhost.localdomain"
    )
    # A patient needs attention at this pain or soreness (0-10) or after this many days without activity.
    attention_pain: Annotated[int, Meta(ge=1, le=10)] = 7
    inactive_days: Annotated[int, Meta(ge=1, le=60)] = 3
    # A console session unused this long ends (a clinic's shared tablet left signed in); every
    # session ends 12 hours after sign-in however much it is used.
    session_idle_minutes: Annotated[int, Meta(ge=2, le=720)] = 30
    # A patient's phone unused this long is disconnected (a lost, sold or handed-on phone keeps the
    # patient's health data behind its token): its token stops working, as if the clinic removed it.
    # At least a week: a patient who is fine leaves the app alone for days.
    device_idle_days: Annotated[int, Meta(ge=7, le=3650)] = 180
    # Run the reminder scheduler in this process.
    scheduler: bool = True
    # Seconds between scheduler ticks (a reminder goes out at most this late).
    scheduler_interval_seconds: Annotated[float, Meta(gt=0, le=300)] = 5.0
    # A reminder missed (server down) is still sent this many minutes late, never later.
    push_grace_minutes: Annotated[int, Meta(ge=1, le=240)] = 30
    # How long the push service keeps a message for a device that is offline.
    push_ttl_seconds: Annotated[int, Meta(ge=60, le=86_400)] = 1800
    push_timeout_seconds: Annotated[float, Meta(gt=0, le=120)] = 10.0
    # Attempts per message (429, 5xx and network errors are retried with backoff).
    push_max_attempts: Annotated[int, Meta(ge=1, le=20)] = 5
    # Messages in flight at once per process.
    push_concurrency: Annotated[int, Meta(ge=1, le=2000)] = 128
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client;
    # empty: the connecting address is the client. Per-address limits need this behind a proxy.
    trusted_proxies: Annotated[str, Meta(pattern=r"^[0-9A-Fa-f.:/, ]*$")] = ""
    # Push services patients' browsers may register (host suffixes, comma-separated; "*" allows any).
    # In development, http://127.0.0.1 and http://localhost are allowed too.
    push_hosts: str = "fcm.googleapis.com,push.services.mozilla.com,notify.windows.com,push.apple.com"

    # Host names requests may be addressed to (comma-separated; "*.example.org" for its subdomains;
    # "*" any). Empty: in production the public URL's host and loopback, in development any. A
    # page on another site that points its own name at this server (DNS rebinding) is refused.
    allowed_hosts: Annotated[str, Meta(pattern=r"^[A-Za-z0-9.:\[\]*, -]*$")] = ""

    @property
    def host_headers(self) -> list[str]:
        """The Host headers a request may carry: each allowed name bare and with the listening and
        public ports; ``["*"]`` for any."""
        given = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        if "*" in given or (not given and self.env == "development"):
            return ["*"]
        public = urllib.parse.urlsplit(self.public_url)
        names = given or [public.hostname or "", "127.0.0.1", "localhost", "::1"]
        ports = {str(self.port), *([str(public.port)] if public.port else [])}
        headers = []
        for name in filter(None, names):
            bare = f"[{name}]" if ":" in name and not name.startswith("[") else name
            headers += [bare, *(f"{bare}:{port}" for port in sorted(ports))]
        return headers

    @property
    def database_backend(self) -> Literal["sqlite", "postgresql"]:
        """Which backend ``database_url`` selects."""
        return "postgresql" if self.database_url.startswith(("postgresql://", "postgres://")) else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file behind ``database_url``."""
        return Path(self.database_url.removeprefix("sqlite:///"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read settings from ``UNKNOT_*`` variables; ``overrides`` win over the environment.

        Raises:
            SettingsError: one line naming the variable and what is wrong with it.
        """
        environ = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            value = environ.get(f"UNKNOT_{field.name.upper()}")
            if value is not None:
                raw[field.name] = value
        raw.update(overrides)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            reason, _, path = str(exc).rpartition(" - at ")
            name = path.strip("`").removeprefix("$.").split("[")[0].split(".")[0]
            raise SettingsError(f"UNKNOT_{name.upper()}: {_explain(name, reason or str(exc), raw.get(name))}") from None
        _check_database_url(settings.database_url)
        for name in ("data_dir", "plans_dir", "pwa_dir"):
            if not getattr(settings, name).strip():
                # An empty value (a shell variable that expanded to nothing) would be the folder the
                # command runs in: a key pair made there, content or the app looked for there.
                raise SettingsError(f"UNKNOT_{name.upper()}: must not be empty (a folder's path)")
        if not any(h.strip() for h in settings.push_hosts.split(",")):
            # Every phone's subscription would be refused, and no reminder ever sent.
            raise SettingsError(
                f"UNKNOT_PUSH_HOSTS: must name at least one push service (host suffixes, comma-separated, "
                f"or * for any), not {settings.push_hosts!r}"
            )
        if not settings.public_url:
            settings = msgspec.structs.replace(settings, public_url=_listening_url(settings.host, settings.port))
        # Resolved once, from the folder the command runs in: every message names the whole path, and
        # a key pair made in the wrong folder is named where it is (see `unknot serve`).
        settings = msgspec.structs.replace(settings, data_dir=str(Path(settings.data_dir).absolute()))
        for proxy in filter(None, (p.strip() for p in settings.trusted_proxies.split(","))):
            try:
                ipaddress.ip_network(proxy) if "/" in proxy else ipaddress.ip_address(proxy)
            except ValueError:
                # The proxy-headers middleware would take it as a name no connection ever has.
                raise SettingsError(f"UNKNOT_TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from None
        return settings


# Read by the project's tests and benchmarks, not by the server (see the README and the Makefile).
_TOOL_VARIABLES = frozenset(
    {
        "UNKNOT_CRASH_TRIALS",
        "UNKNOT_FUZZ_EXAMPLES",
        "UNKNOT_SOAK_MINUTES",
        "UNKNOT_SOAK_RATE",
        "UNKNOT_UPDATE_SNAPSHOTS",
    }
)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line for each ``UNKNOT_*`` variable that is no setting (a misspelt one is ignored, and
    its setting keeps its default without a word), naming the setting it may have meant."""
    environ = os.environ if environ is None else environ
    fields = [field.name.upper() for field in msgspec.structs.fields(Settings)]
    known = [f"UNKNOT_{field}" for field in fields]
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith("UNKNOT_") or name in known or name in _TOOL_VARIABLES:
            continue
        line = f"{name} is not a setting of Unknot and is ignored"
        # Compared without the prefix every name shares, which would make any two look alike.
        if close := difflib.get_close_matches(name.upper().removeprefix("UNKNOT_"), fields, n=1, cutoff=0.7):
            line += f"; did you mean UNKNOT_{close[0]}?"
        lines.append(line)
    return lines


def _check_database_url(url: str) -> None:
    """Refuse what would otherwise open (and create) a SQLite file of that odd name: a mistyped
    URL would start an empty clinic without a word."""
    scheme, sep, _ = url.partition("://")
    if not url.strip():
        raise SettingsError("UNKNOT_DATABASE_URL: must not be empty (a file path, sqlite:///path or postgresql://...)")
    if sep and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        # Only the scheme is repeated: the rest may hold a password.
        raise SettingsError(
            f"UNKNOT_DATABASE_URL: must be a file path, sqlite:///path (three slashes) or postgresql://..., "
            f"not a {scheme}:// address"
        )


def _listening_url(host: str, port: int) -> str:
    """The address of this server as seen from this machine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1")
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


_KINDS = {int: "a whole number", float: "a number", bool: "1 or 0 (or true or false)"}
_FORMS = {
    "public_url": "an http:// or https:// address without a path (the app is served at the root of its site)",
    "vapid_contact": "a mailto: address or an https:// URL",
    "trusted_proxies": "IP addresses or networks, comma-separated",
    "clinic_name": "one line of text",
    "clinic_phone": "one line of text",
    "allowed_hosts": "host names, comma-separated",
}
_BOUNDS = {"<=": "at most", ">=": "at least", "<": "less than", ">": "more than"}


def _explain(name: str, reason: str, value: object) -> str:
    """msgspec's reason in the words of someone setting an environment variable, with the value given."""
    hint = typing.get_type_hints(Settings, include_extras=True).get(name)
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
    if typing.get_origin(base) is Literal:
        return f"must be one of {', '.join(typing.get_args(base))}, not {value!r}"
    if reason.endswith("got `str`") and base in _KINDS:
        return f"must be {_KINDS[base]}, not {value!r}"
    if "matching regex" in reason and name in _FORMS:
        return f"must be {_FORMS[name]}, not {value!r}"
    words = reason.split()
    if words[:4] == ["Expected", "`str`", "of", "length"] and len(words) == 6 and words[4] in _BOUNDS:
        return f"must be {_BOUNDS[words[4]]} {words[5]} characters, not {value!r}"
    if len(words) == 4 and words[0] == "Expected" and words[2] in _BOUNDS:  # "Expected `int` <= 65535"
        return f"must be {_BOUNDS[words[2]]} {words[3]}, not {value!r}"
    return reason
