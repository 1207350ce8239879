//! Fault injection wrapper.
