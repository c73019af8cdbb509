"""Dialogue reasoning shared by the action server and the dialogue evaluation (no Rasa imports)."""
