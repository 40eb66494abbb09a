//! Integration tests.
mod http_shell;
mod support;
