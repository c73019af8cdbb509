"""The tables of the handoff store, one module per concern (mixins of handoff.store.Store)."""
