"""Project analysis: the linted files analysed together.

Each file is summarized from its own parse (`summary`), the summaries are linked across files
(`link`: imports, base classes, call targets, what callers pass), and each file is linted with
the facts the rest of the project adds (`runner`), everything cached by content (`state`).
"""
