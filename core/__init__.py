"""What every process shares, importing nothing of ours (checked by import-linter, pyproject.toml).

settings (the environment, the time zone, the project root), text (Vietnamese normalisation), privacy
(redaction and masking), safety (emergency words), decision (the ``{"dvc": ...}`` payload), net (the
client address behind a proxy). Standard library only, plus PyYAML for the abbreviations file.
"""
