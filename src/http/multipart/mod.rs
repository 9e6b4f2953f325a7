//! CouchDB's multipart bodies: reading `multipart/related` document
//! uploads ([`read`]) and writing `multipart/related` and
//! `multipart/mixed` answers ([`write`]).

pub mod read;
pub mod write;

pub use write::*;
