"""Pieces both services share: settings, errors, logging, database set-up, health, serving."""
