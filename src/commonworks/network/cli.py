"""`commonworks network …`: bulk onboarding, matching and allocation from files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Network (共享制造): enterprises, matching, allocation.", no_args_is_help=True)
