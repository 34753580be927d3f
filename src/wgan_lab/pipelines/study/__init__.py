"""Seeds and statistics over the variants: `study` runs the jobs, `study_report` rebuilds the report."""
from .pipeline import create_pipeline, create_report_pipeline

__all__ = ["create_pipeline", "create_report_pipeline"]
