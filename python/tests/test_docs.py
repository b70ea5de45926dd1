"""The examples in the docstrings run and give what they show."""

import doctest

import archconv
import archconv._archconv as ext
import archconv.dask as ad


def test_docstring_examples():
    attempted = 0
    for m in (archconv, ext, ad):
        r = doctest.testmod(m, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert r.failed == 0, f"{m.__name__}: {r.failed} failed"
        attempted += r.attempted
    assert attempted >= 8, f"only {attempted} examples found"


def test_every_public_name_has_a_docstring():
    for name in archconv.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(archconv, name)
        assert (obj.__doc__ or "").strip(), f"archconv.{name} has no docstring"
