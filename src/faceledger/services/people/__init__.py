"""Accounts, account requests that need a second person, web sessions."""
