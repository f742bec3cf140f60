"""mla-tracker: signed, deadline-aware tracking of cross-border MLA requests."""

__version__ = "0.1.0"
