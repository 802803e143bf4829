"""Declarative pipelines (``tradeopt pipeline run|submit``)."""

from tradeopt_cli.pipeline.config import ConfigError, PipelineConfig, load_config, parse_config

__all__ = ["ConfigError", "PipelineConfig", "load_config", "parse_config"]
