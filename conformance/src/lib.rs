//! Conformance suite: see `tests/`.
