"""Widgets of the writing app, one role per module."""
