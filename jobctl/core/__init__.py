"""jobctl's core API: every face (CLI, dashboard, HTTP) calls these modules and nothing else.

Never import typer, rich, textual or an HTTP framework from here.
"""
