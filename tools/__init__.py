"""Staff tools: ``python -m tools.check`` (validate knowledge/), ``python -m tools.preview`` (what the bot says)."""
