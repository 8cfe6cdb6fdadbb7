"""What anyone outside can check: RFC 9162 Merkle proofs, signed checkpoints and witness cosignatures.
verify.py depends on nothing but the standard library and `cryptography`, so it travels on its own."""
