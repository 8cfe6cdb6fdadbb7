"""The governed check every use case goes through: roles, authority, scope, refusals, the ledger key."""
