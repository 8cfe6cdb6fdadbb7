"""Vector index backends behind one protocol. Derived data: the database can always rebuild them."""
