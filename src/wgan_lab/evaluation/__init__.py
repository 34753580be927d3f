"""Sample-quality metrics, the domain feature extractor and the comparison report (no Kedro)."""
