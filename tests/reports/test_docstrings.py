"""The examples in the reports package's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("reports.daily", "reports.counts", "reports.budgets", "reports.monthly")


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
