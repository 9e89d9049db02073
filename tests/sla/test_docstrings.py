"""The usage examples in `sla/` docstrings stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sla

MODULES = sorted(info.name for info in pkgutil.iter_modules(sla.__path__, "sla."))


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
