"""The insights tests' fixtures (isolated environment, a store on each backend, the tiny index) for the
actions that record their decisions."""

from tests.insights.conftest import _isolated_env, db_url, index_dir, store  # noqa: F401
