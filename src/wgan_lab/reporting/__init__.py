"""Reports: the HTML/Markdown/figure kit, and the compare, tuning and study reports
built from saved tables or stores alone (no Kedro, no MLflow)."""
