//! Integration tests: the real server on a random port, spoken to over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod all_docs;
mod attachments;
mod auth;
mod bulk;
mod changes;
mod config;
mod databases;
mod documents;
mod durability;
mod fauxton;
mod gzip_bodies;
mod local_docs;
mod mango;
mod metrics;
mod partitioned;
mod replication;
mod replicator_wire;
mod request_line;
mod revisions;
mod server;
mod service;
