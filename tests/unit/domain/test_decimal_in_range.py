"""decimal_in_range: the one bound every adapter puts on a number read from a broker."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from domain.broker_integration.rules.validation import decimal_in_range, positive_decimal_problem

D = Decimal


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "0E-50",
        "0E+40",
        "1",
        "-1",
        "999999999999999.9",
        "-999999999999999",
        "1E-28",
        "0.0000000000000000000000000001",
    ],
)
def test_finite_numbers_below_the_bound_are_in_range(text: str) -> None:
    assert decimal_in_range(D(text))


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "sNaN",
        "-NaN",
        "Infinity",
        "-Infinity",
        "1E+15",
        "1000000000000000",
        "-1E+15",
        "1e18",
        "1e9999999999",
        "-1e9999999999",
        "1E+1000000000",
    ],
)
def test_non_finite_and_huge_numbers_are_out_of_range(text: str) -> None:
    assert not decimal_in_range(D(text))


def test_places_are_bounded_only_when_asked() -> None:
    assert decimal_in_range(D("1e-40"))
    assert not decimal_in_range(D("1e-40"), max_scale=28)
    assert decimal_in_range(D("1." + "0" * 28), max_scale=0)  # trailing zeros are no places
    assert not decimal_in_range(D("1." + "0" * 28 + "1"), max_scale=28)


@pytest.mark.parametrize("text", ["1e9999999999", "-1e9999999999", "1e-9999999999", "-1e-9999999999"])
def test_no_arithmetic_on_a_number_beyond_any_context(text: str) -> None:
    # A tiny context trapping everything: any arithmetic on these numbers would raise.
    traps = [decimal.Overflow, decimal.Underflow, decimal.Inexact, decimal.Rounded, decimal.InvalidOperation]
    with decimal.localcontext(decimal.Context(prec=5, Emax=10, Emin=-10, traps=traps)):
        assert decimal_in_range(D(text), max_scale=None) is text.lstrip("-").startswith("1e-")
        assert not decimal_in_range(D(text), max_scale=28)


def test_orders_keep_their_bound_and_message() -> None:
    assert positive_decimal_problem("price", "999999999999999.5") is None
    problem = positive_decimal_problem("price", "1e9999999999")
    assert problem is not None and problem.message == "must be below 10^15 with at most 18 decimal places"
    assert positive_decimal_problem("quantity", "0." + "0" * 18 + "1") is not None
