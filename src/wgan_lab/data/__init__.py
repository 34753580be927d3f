"""Reading, fetching, validating and normalising image sources (no Kedro)."""
