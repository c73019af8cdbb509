"""Hand a citizen's conversation to a hotline agent: queue, store, agent console and API.

Importing this package (or any module in it) has no side effects: configuration is read and the
database is opened only when a function that needs them is called. Privacy rules and the safety
words it uses live in core/ (core.privacy, core.safety).

    handoff.config      settings from HANDOFF_* environment variables
    handoff.hours       working hours and holidays ("mon-fri 07:30-17:00")
    handoff.transcript  transcript and "what the bot understood" from Rasa tracker events
    handoff.store       the store (SQLite by default, PostgreSQL with HANDOFF_DATABASE_URL): the
                        tables of handoff.tables and insights.interactions on handoff.database
    handoff.intake      what the action server does when a citizen is handed off
    handoff.messages    what the console says to a citizen (the action server's handoff texts: actions/replies.py)
    handoff.server      the agent API and console (python -m handoff.server)
    handoff.admin       agent accounts (python -m handoff.admin create-agent NAME)
"""
