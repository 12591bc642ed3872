"""Commonworks: an open industrial internet platform (工业互联网平台)."""

__version__ = "0.1.0"
