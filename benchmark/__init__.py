"""RecBoard core: data adapters, protocol, metrics, timing, runner, results, registry, LLM backends, CLI."""

__version__ = "0.2.0"
