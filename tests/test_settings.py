"""Settings: validated at start, documented in docs/settings.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxpop.errors import ConfigurationError
from voxpop.model import Moderation
from voxpop.settings import SPECS, load

DOCS = Path(__file__).parent.parent / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [s.name for s in SPECS if f"`VOXPOP_{s.name.upper()}`" not in text]
    assert missing == []


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    s = load(environ={"VOXPOP_DATABASE_URL": f"sqlite:///{tmp_path}/v.db"})
    assert s.is_dev
    assert s.demo
    assert s.moderation is Moderation.AUTO
    assert s.edit_window == 900
    assert len(s.secret_key) >= 32
    # The generated dev secret is kept, so reader tokens survive a restart.
    again = load(environ={"VOXPOP_DATABASE_URL": f"sqlite:///{tmp_path}/v.db"})
    assert again.secret_key == s.secret_key


def test_production_refuses_a_missing_secret() -> None:
    with pytest.raises(ConfigurationError, match="VOXPOP_SECRET_KEY"):
        load(environ={"VOXPOP_ENV": "production"})
    s = load(environ={"VOXPOP_ENV": "production", "VOXPOP_SECRET_KEY": "x" * 32})
    assert not s.demo


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VOXPOP_MODERATION", "sometimes"),
        ("VOXPOP_RATE_LIMITS", "maybe"),
        ("VOXPOP_EDIT_WINDOW", "soon"),
        ("VOXPOP_DATABASE_URL", "mysql://x"),
        ("VOXPOP_ALLOWED_ORIGINS", "news.example"),
        ("VOXPOP_LANGUAGE", "fr"),
        ("VOXPOP_ENV", "staging"),
        ("VOXPOP_POST_RATE", "ten"),
        ("VOXPOP_SMTP_URL", "http://mail.example"),
        ("VOXPOP_SMTP_URL", "smtp://mail.example?starttls=yes"),
        ("VOXPOP_SMTP_URL", "smtp://mail.example?tls=on"),
        ("VOXPOP_SMTP_URL", "smtp://mail.example:twenty-five"),
        ("VOXPOP_MAIL_LEASE", "60"),  # too short for the default 30 s SMTP timeout
        ("VOXPOP_MAIL_RETRY_BASE", "-1"),
        ("VOXPOP_DIGEST_HOUR", "24"),
        ("VOXPOP_CONFIRM_LIMIT", "many"),
        ("VOXPOP_REDIS_URL", "localhost:6379"),
        ("VOXPOP_WEBHOOK_URL", "ftp://hooks.example/voxpop"),
        ("VOXPOP_WEBHOOK_URL", "https://hooks.example/voxpop"),  # without a secret
    ],
)
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load(environ={name: value, "VOXPOP_SECRET_KEY": "x" * 32})
    assert name in info.value.detail


def test_sites_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "voxpop.toml"
    path.write_text(
        'moderation = "pre"\n[sites.tribune]\norigins = ["https://tribune.example/"]\nlanguage = "de"\n'
    )
    s = load(environ={"VOXPOP_CONFIG": str(path), "VOXPOP_SECRET_KEY": "x" * 32})
    tribune = s.site("tribune")
    assert tribune is not None
    assert tribune.origins == ("https://tribune.example",)
    assert tribune.language == "de"
    assert tribune.moderation is Moderation.PRE
    assert s.site("default") is not None


def test_unknown_keys_in_toml_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "voxpop.toml"
    path.write_text("moderaton = 'pre'\n")
    with pytest.raises(ConfigurationError, match="moderaton"):
        load(environ={"VOXPOP_CONFIG": str(path)})
