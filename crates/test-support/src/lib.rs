//! Shared fixtures for Warden tests.
