//! CouchDB's multipart bodies: reading `multipart/related` bodies ([`read`])
//! and document uploads ([`upload`]), and writing `multipart/related` and
//! `multipart/mixed` answers ([`write`]).

pub mod read;
pub mod upload;
pub mod write;

pub use write::*;
