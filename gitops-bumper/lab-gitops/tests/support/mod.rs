//! Stand-ins for the library's integration tests: an Argo CD Application as the API server
//! returns it, and a small HTTP server on 127.0.0.1.
#![allow(dead_code, unused_imports)]

pub mod application;
pub mod server;

pub use server::free_port;
