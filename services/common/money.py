"""Money: ``Decimal`` amounts with a currency, never floats, and the one place that rounds.

Rules (every figure on a quote, an invoice, a statement and an order's price follows them):
- amounts are ``Decimal``; a float is refused where money enters (``to_decimal``);
- an amount is rounded to its currency's minor unit (ISO 4217: 2 places for EUR, 0 for JPY,
  3 for KWD ...), half up, the way invoices are rounded by hand;
- a line is rounded once (quantity x unit price), its tax once (net x rate), and totals are sums
  of rounded figures, so the sum of the lines is always the total printed under them;
- on the wire an amount is ``{"amount": "123.45", "currency": "EUR"}`` (API.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

# ISO 4217 currencies whose minor unit is not 1/100.
_EXPONENTS = {"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
              "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
              "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to the currency's minor unit: the only rounding of money."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def to_decimal(value: Any) -> Decimal:
    """A Decimal from a string, int or Decimal. Floats are refused: 0.1 + 0.2 is not money."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"money must not be a {type(value).__name__}: send a decimal string")
    try:
        result = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def tax_of(net: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """The tax on one line: ``net x rate / 100``, rounded once."""
    return round_money(net * rate_percent / HUNDRED, currency)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self):
        object.__setattr__(self, "amount", to_decimal(self.amount))
        object.__setattr__(self, "currency", self.currency.upper())

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(ZERO, currency)

    @classmethod
    def of(cls, wire: dict) -> "Money":
        return cls(to_decimal(wire["amount"]), wire["currency"])

    def _same(self, other: "Money") -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def rounded(self) -> "Money":
        return Money(round_money(self.amount, self.currency), self.currency)

    def wire(self) -> dict:
        """``{"amount": "123.45", "currency": "EUR"}``, rounded to the minor unit."""
        return {"amount": str(round_money(self.amount, self.currency)), "currency": self.currency}

    def __str__(self) -> str:
        return f"{round_money(self.amount, self.currency):,} {self.currency}"


def wire(amount: Decimal, currency: str) -> dict:
    return Money(amount, currency).wire()


class DecimalString(fields.Decimal):
    """A decimal given as a string (or an int); a JSON float is refused with a clear message,
    because 0.1 in binary is not 0.1 and money must arrive exactly as the client wrote it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("as_string", True)
        kwargs.setdefault("allow_nan", False)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float):
            raise ValidationError("Send money as a decimal string such as \"12.50\", not a JSON number with a fraction.")
        return super()._deserialize(value, attr, data, **kwargs)


CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="Use an ISO 4217 code such as EUR.")


class MoneySchema(Schema):
    """Money on the wire (API.md): a decimal string and an ISO 4217 currency."""
    amount = DecimalString(required=True, metadata={"example": "123.45"})
    currency = fields.String(required=True, validate=CURRENCY, metadata={"example": "EUR"})


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor unit (cents), rounded first: how money is stored, so
    sums in SQL are exact on every database (SQLite has no exact decimal type)."""
    return int(round_money(amount, currency).scaleb(exponent(currency)))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(int(minor)).scaleb(-exponent(currency))


def wire_minor(minor: int, currency: str) -> dict:
    return {"amount": str(from_minor(minor, currency)), "currency": currency}
