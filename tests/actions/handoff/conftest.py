"""The handoff tests' fixtures (isolated HANDOFF_* environment, a store on each backend) for the actions
that hand a citizen over."""

from tests.handoff.conftest import _isolated_env, store, store_url  # noqa: F401
