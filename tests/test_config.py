"""Settings check themselves when they are read, so a bad value is one clear error at start-up, not a failure later
in a worker (a cron string beat cannot parse, a Flower password in the wrong form)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from docsum.config import SHIPPED_MODEL_DIR, InvalidSetting, Settings, get_settings, is_loopback


def test_defaults_are_the_embedded_ones() -> None:
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///") and settings.broker_url is None
    assert settings.summary_sentences == 3 and settings.max_batch_tokens == 8192


@pytest.mark.parametrize("cron", ["0 2 * *", "0 2 * * * *", "0 2 * * mon;rm"])
def test_a_malformed_cron_is_refused(cron: str) -> None:
    with pytest.raises(ValidationError, match="5 cron fields"):
        Settings(nightly_cron=cron)


def test_a_valid_cron_is_kept() -> None:
    assert Settings(nightly_cron="30 3 * * 1-5").nightly_cron == "30 3 * * 1-5"


def test_archive_roots_are_non_empty_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCSUM_NIGHTLY_ROOTS", '["/data/a", "~/b"]')
    assert Settings().nightly_roots == ["/data/a", str(Path("~/b").expanduser())]
    with pytest.raises(ValidationError, match="non-empty"):
        Settings(nightly_roots=["/data", " "])


@pytest.mark.parametrize("auth", ["ops", "ops:", ":pw", "a:b,"])
def test_flower_basic_auth_must_be_pairs_and_the_error_never_shows_it(auth: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(flower_basic_auth=auth)
    assert "user:password" in str(error.value)
    assert "input_value" not in str(error.value) or repr(auth) not in str(error.value).split("input_value")[0]


def test_flower_basic_auth_pairs_are_accepted() -> None:
    assert Settings(flower_basic_auth="a:b,c:d:e").flower_basic_auth == "a:b,c:d:e"


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    for address in ("0.0.0.0", "", "10.1.2.3", "example.org"):
        assert not is_loopback(address)


def test_the_model_is_decided_in_one_place(tmp_path: Path) -> None:
    assert Settings(model=str(tmp_path)).model_path == tmp_path
    default = Settings().model_path
    assert default == (SHIPPED_MODEL_DIR if (SHIPPED_MODEL_DIR / "config.json").exists() else None)


def test_the_shared_data_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCSUM_SHARED_DATA", str(tmp_path))
    assert Settings().shared_data == tmp_path


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DOCSUM_NIGHTLY_ROOTS", "[oops", "DOCSUM_NIGHTLY_ROOTS: not valid JSON"),
        ("DOCSUM_NIGHTLY_CRON", "every night", "DOCSUM_NIGHTLY_CRON: must be 5 cron fields"),
        ("DOCSUM_FLOWER_BASIC_AUTH", "s3cret-no-colon", "DOCSUM_FLOWER_BASIC_AUTH: must be user:password"),
    ],
)
def test_get_settings_names_the_bad_variable_and_never_its_secret(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSetting) as error:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert expected in str(error.value)
    assert "s3cret" not in str(error.value)
