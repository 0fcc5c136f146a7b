from __future__ import annotations

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
