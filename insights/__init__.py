"""What citizens asked that the bot could not answer, and what they thought of its answers.

* ``insights.recording``: the action server records every decision it sends (answered, clarified,
  abstained, out of scope, offered a person, handed off, feedback) into the handoff store's
  ``interactions`` table, masked, in a background thread.
* ``insights.grouping``: groups similar questions (sentence embeddings, or character n-gram TF-IDF).
* ``insights.report``: ``python -m insights.report`` / ``make report`` writes CSV files and an HTML page.

See docs/insights.md.
"""
