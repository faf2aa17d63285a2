"""The public board and open data: figures anyone may read without an account, each built
from protected cells (app/privacy.py) on fixed windows, so no two answers can be
subtracted down to one exporter's truck."""
