from __future__ import annotations

import re

import pytest

from server.settings import Settings, SettingsError


def test_defaults_serve_sqlite_on_loopback_8000() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.env) == ("127.0.0.1", 8000, "development")
    assert s.sqlite_path.name == "unknot.db"


def test_environment_variables_are_read_and_converted() -> None:
    s = Settings.from_env({"UNKNOT_PORT": "9001", "UNKNOT_DATABASE_URL": "sqlite:///tmp/x.db", "UNKNOT_SCHEDULER": "0"})
    assert s.port == 9001
    assert str(s.sqlite_path) == "tmp/x.db"
    assert s.scheduler is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UNKNOT_PORT", "eighty"),
        ("UNKNOT_PORT", "70000"),
        ("UNKNOT_LOG_LEVEL", "loud"),
        ("UNKNOT_ENV", "staging"),
        ("UNKNOT_VAPID_CONTACT", "nobody"),
        ("UNKNOT_TRUSTED_PROXIES", "proxy.example.org"),  # addresses only: names are spoofable
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("UNKNOT_SCHEDULER", "yes", "UNKNOT_SCHEDULER: must be 1 or 0 (or true or false), not 'yes'"),
        ("UNKNOT_PORT", "eighty", "UNKNOT_PORT: must be a whole number, not 'eighty'"),
        ("UNKNOT_PORT", "70000", "UNKNOT_PORT: must be at most 65535, not '70000'"),
        ("UNKNOT_PUSH_TIMEOUT_SECONDS", "soon", "UNKNOT_PUSH_TIMEOUT_SECONDS: must be a number, not 'soon'"),
        ("UNKNOT_LOG_LEVEL", "loud", "UNKNOT_LOG_LEVEL: must be one of debug, info, warning, error, not 'loud'"),
        ("UNKNOT_VAPID_CONTACT", "nobody", "UNKNOT_VAPID_CONTACT: must be a mailto: address or an https:// URL"),
        # An invite link without a scheme is no link on a phone.
        ("UNKNOT_PUBLIC_URL", "clinic.example.org", "UNKNOT_PUBLIC_URL: must be an http:// or https:// address"),
        # The app asks for /api/v1/... at the root: invite links under a path led to an app that never loaded.
        (
            "UNKNOT_PUBLIC_URL",
            "https://clinic.example.org/unknot",
            "UNKNOT_PUBLIC_URL: must be an http:// or https:// address without a path (the app is served at the "
            "root of its site), not 'https://clinic.example.org/unknot'",
        ),
        # Printed on one line of the patient's plan.
        ("UNKNOT_CLINIC_PHONE", "910\n000", "UNKNOT_CLINIC_PHONE: must be one line of text"),
        # It must fit beside the warning signs; msgspec's own words were "Expected `str` of length <= 40".
        ("UNKNOT_CLINIC_PHONE", "9" * 41, f"UNKNOT_CLINIC_PHONE: must be at most 40 characters, not '{'9' * 41}'"),
        ("UNKNOT_CLINIC_NAME", "C" * 101, f"UNKNOT_CLINIC_NAME: must be at most 100 characters, not '{'C' * 101}'"),
        # The proxy-headers middleware takes what is no address as a name no connection has: never trusted.
        ("UNKNOT_TRUSTED_PROXIES", "10.0.0.1/8", "'10.0.0.1/8' is not an IP address or network"),
        ("UNKNOT_TRUSTED_PROXIES", "127.0.0.1,300.1.1.1", "'300.1.1.1' is not an IP address or network"),
        ("UNKNOT_ALLOWED_HOSTS", "clinic.example/x", "UNKNOT_ALLOWED_HOSTS: must be host names, comma-separated"),
        # A day would cut off a patient who leaves the app alone over a weekend.
        ("UNKNOT_DEVICE_IDLE_DAYS", "1", "UNKNOT_DEVICE_IDLE_DAYS: must be at least 7, not '1'"),
        # Left empty in an environment file, it refused every phone's subscription: no reminder was ever sent.
        ("UNKNOT_PUSH_HOSTS", "", "UNKNOT_PUSH_HOSTS: must name at least one push service (host suffixes, "),
        ("UNKNOT_PUSH_HOSTS", " , ", "comma-separated, or * for any), not ' , '"),
        # The folder a command runs in, without a word: a second VAPID key pair made there.
        ("UNKNOT_DATA_DIR", "", "UNKNOT_DATA_DIR: must not be empty (a folder's path)"),
        ("UNKNOT_PLANS_DIR", " ", "UNKNOT_PLANS_DIR: must not be empty (a folder's path)"),
        ("UNKNOT_PWA_DIR", "", "UNKNOT_PWA_DIR: must not be empty (a folder's path)"),
    ],
)
def test_a_bad_value_says_what_is_expected_and_what_was_given(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("mysql://clinic:secret@db/unknot", "not a mysql:// address"),
        # Two slashes: a relative file named "sqlite:" would be made.
        ("sqlite://var/unknot.db", "sqlite:///path (three slashes)"),
        ("  ", "must not be empty"),
    ],
)
def test_a_database_url_no_backend_takes_is_refused_without_repeating_it(value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)) as info:
        Settings.from_env({"UNKNOT_DATABASE_URL": value})
    assert str(info.value).startswith("UNKNOT_DATABASE_URL: ")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"UNKNOT_PORT": "8792"}, "http://127.0.0.1:8792"),
        ({"UNKNOT_HOST": "0.0.0.0", "UNKNOT_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"UNKNOT_HOST": "::1"}, "http://[::1]:8000"),
        ({"UNKNOT_HOST": "clinic.local"}, "http://clinic.local:8000"),
        ({"UNKNOT_PORT": "9000", "UNKNOT_PUBLIC_URL": "https://clinic.example.org"}, "https://clinic.example.org"),
    ],
)
def test_invite_links_follow_the_address_the_app_listens_on_unless_set(environ: dict[str, str], url: str) -> None:
    assert Settings.from_env(environ).public_url == url


def test_trusted_proxies_take_addresses_and_networks_of_both_families() -> None:
    s = Settings.from_env({"UNKNOT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1,fd00::/8"})
    assert s.trusted_proxies == "127.0.0.1, 10.0.0.0/8,::1,fd00::/8"


@pytest.mark.parametrize(
    ("environ", "headers"),
    [
        # Development answers to any name (a phone on the Wi-Fi uses the machine's address).
        ({}, ["*"]),
        # Production: the public address and loopback (a health check on the machine itself), each
        # bare and with the listening and public ports.
        (
            {"UNKNOT_ENV": "production", "UNKNOT_PUBLIC_URL": "https://clinic.example:8443", "UNKNOT_PORT": "8001"},
            [
                *("clinic.example", "clinic.example:8001", "clinic.example:8443"),
                *("127.0.0.1", "127.0.0.1:8001", "127.0.0.1:8443"),
                *("localhost", "localhost:8001", "localhost:8443"),
                *("[::1]", "[::1]:8001", "[::1]:8443"),
            ],
        ),
        # A list given is the whole list; "*" turns the check off in production too.
        (
            {"UNKNOT_ENV": "production", "UNKNOT_ALLOWED_HOSTS": "Clinic.example, *.clinic.example"},
            ["clinic.example", "clinic.example:8000", "*.clinic.example", "*.clinic.example:8000"],
        ),
        ({"UNKNOT_ENV": "production", "UNKNOT_ALLOWED_HOSTS": "*"}, ["*"]),
    ],
)
def test_allowed_hosts_default_to_the_public_address_and_loopback_in_production(
    environ: dict[str, str], headers: list[str]
) -> None:
    assert Settings.from_env(environ).host_headers == headers
