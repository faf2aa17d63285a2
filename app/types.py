"""Small types and constants every feature may use: money, JSON numbers, UTC days.

A basic module (like db, errors and config): it imports no feature, so any feature can
import it without reaching sideways or upwards.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer

# Money is kept to the cent: amounts are quantized to this before they are stored or compared.
CENT = Decimal("0.01")

# Decimals keep money and quantities exact in the database and travel as JSON numbers.
JsonDecimal = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]

# 1970-01-01 as a proleptic ordinal: a UTC day number (stops.arrival_day, the reports' trend
# key) is `day.toordinal() - EPOCH`, and `date.fromordinal(EPOCH + n)` turns it back.
EPOCH = date(1970, 1, 1).toordinal()
