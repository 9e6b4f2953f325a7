//! Mango, CouchDB's query language, as a pure model: selectors (parsing,
//! normalization, matching), field paths, index definitions as design
//! documents hold them, `_find` requests, the query planner, and CouchDB's
//! Mango errors.
//!
//! [`Selector`] is the stable entry point for other features (the
//! `_changes` `_selector` filter): `Selector::parse(&Value)` and
//! `Selector::matches(&Value)`.

pub mod error;
pub mod field;
pub mod index;
pub mod plan;
pub mod query;
pub mod selector;

pub use selector::Selector;
