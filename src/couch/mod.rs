//! The CouchDB document model, pure: no HTTP, no disk.
//!
//! Revisions and their ids ([`rev`], [`revid`]), revision trees
//! ([`revtree`]), the edit rules ([`update`]), document parsing and
//! rendering ([`doc`]), design-document rules ([`design`]), naming rules
//! ([`names`]), partitioned ids ([`partition`]), sequences ([`seq`]) and
//! server-made ids ([`uuids`]).
pub mod attachment;
pub mod changes;
pub mod collate;
pub mod design;
pub mod doc;
pub mod mango;
pub mod names;
pub mod partition;
pub mod range;
pub mod rev;
pub mod revid;
pub mod revtree;
pub mod seq;
pub mod update;
pub mod uuids;
