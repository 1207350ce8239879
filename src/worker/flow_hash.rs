//! Symmetric Toeplitz flow hash.
