"""Money is integer cents everywhere; this only formats it for people."""


def format_cents(cents: int) -> str:
    """12345 -> '123.45', -5 -> '-0.05'."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{rest:02d}"
