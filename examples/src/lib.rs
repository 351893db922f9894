//! Examples of embedding the D1 export drivers: see `examples/`.
