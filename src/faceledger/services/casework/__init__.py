"""Cases, governed search, review of leads, disclosure."""
