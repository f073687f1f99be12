"""Screens and dialogs of the writing app, one role per module."""
