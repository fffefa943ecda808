"""One public error family: whatever docsum raises on purpose derives from `DocsumError`, and the modules that
users import name only their own things."""

from __future__ import annotations

import inspect

import pytest

import docsum
import docsum.client
import docsum.errors
import docsum.outages
from docsum.config import get_settings


def _exception_classes(module: object) -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == module.__name__  # type: ignore[attr-defined]
    ]


def test_every_docsum_error_derives_from_the_base() -> None:
    classes = _exception_classes(docsum.errors)
    assert len(classes) >= 10
    assert [c.__name__ for c in classes if not issubclass(c, docsum.errors.DocsumError)] == []


def test_every_public_exception_is_a_docsum_error() -> None:
    public = [getattr(docsum, name) for name in docsum.__all__]
    exceptions = [obj for obj in public if inspect.isclass(obj) and issubclass(obj, BaseException)]
    assert {e.__name__ for e in exceptions} >= {"BrokerUnavailable", "InvalidSetting", "ModelNotFound", "NoText"}
    assert [e.__name__ for e in exceptions if not issubclass(e, docsum.DocsumError)] == []


def test_the_cli_outage_table_defines_no_exception() -> None:
    # outages.py maps exceptions to exit codes; the exceptions themselves live in errors.py.
    assert _exception_classes(docsum.outages) == []


def test_the_client_exports_only_its_own_names() -> None:
    foreign = [n for n in docsum.client.__all__ if getattr(docsum.client, n).__module__ != "docsum.client"]
    assert foreign == []


def test_a_bad_setting_is_a_docsum_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCSUM_NIGHTLY_CRON", "every night")
    get_settings.cache_clear()
    try:
        with pytest.raises(docsum.DocsumError, match="DOCSUM_NIGHTLY_CRON") as error:
            docsum.Client()
    finally:
        get_settings.cache_clear()
    assert isinstance(error.value, docsum.InvalidSetting)
