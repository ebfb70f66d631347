"""tests/requirements.missing: a skip locally, a failure where every dependency is required."""

import pytest

from tests.requirements import missing


def test_a_missing_dependency_skips_locally(monkeypatch):
    monkeypatch.delenv("VIDAGENT_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y thing"):
        missing("thing is not installed (apt-get install -y thing)")


def test_a_missing_dependency_fails_where_all_are_required(monkeypatch):
    monkeypatch.setenv("VIDAGENT_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="required but missing: thing"):
        missing("thing is not installed")
