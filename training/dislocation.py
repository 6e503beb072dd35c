"""Premium dislocation of a new model: the banding lives in ``models.pricing.dislocation``,
shared with the rate books' impact report (docs/rate-books.md)."""

from models.pricing.dislocation import BANDS, BOUNDS, DECIMALS, rate_impact, relative_change

__all__ = ["BANDS", "BOUNDS", "DECIMALS", "rate_impact", "relative_change"]
