//! Attachment bodies: content-addressed, chunked, streamed.
//!
//! A body is written in 64 KiB chunks under a fresh blob id as it arrives
//! (memory does not grow with its size), gzip-compressed on the way in for
//! compressible types. When it is complete its digest (md5 of the stored
//! bytes, CouchDB's `digest`) becomes its address: if a body with that
//! digest already exists the new chunks are dropped, so identical bodies
//! are stored once per database. Unreferenced bodies are reclaimed by
//! compaction and with the database.

use std::io::Write;

use flate2::write::{GzDecoder, GzEncoder};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{decode, encode, keys};
use crate::couch::attachment::{digest_of_md5, AttMeta};
use crate::error::{Error, Result};

/// Size of one stored chunk.
pub const CHUNK: usize = 64 * 1024;

/// Where a body's chunks are and what they hold.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BlobEntry {
    pub blob: u64,
    /// Bytes stored (after compression).
    pub stored_len: u64,
    /// Bytes as the client sent them.
    pub identity_len: u64,
    pub gzip: bool,
}

/// How an incoming body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As it comes.
    Identity,
    /// Gzip-compressed on the way in (compressible content types).
    Compress,
    /// It already arrives gzip-compressed (`Content-Encoding: gzip`, or a
    /// replicator's `"encoding": "gzip"`): stored as it comes.
    Gzipped,
}

/// Streams one body into storage.
pub struct BlobWriter {
    tree: sled::Db,
    db: u64,
    blob: u64,
    gzip: Option<GzEncoder<Vec<u8>>>,
    pending: Vec<u8>,
    next_chunk: u32,
    stored_md5: Md5,
    identity_md5: Md5,
    stored_len: u64,
    identity_len: u64,
    pregzipped: bool,
}

impl BlobWriter {
    pub(super) fn new(tree: sled::Db, db: u64, encoding: Encoding) -> Result<BlobWriter> {
        let blob = tree.generate_id()?;
        Ok(BlobWriter {
            tree,
            db,
            blob,
            pregzipped: encoding == Encoding::Gzipped,
            gzip: (encoding == Encoding::Compress)
                .then(|| GzEncoder::new(Vec::new(), flate2::Compression::new(8))),
            pending: Vec::with_capacity(CHUNK),
            next_chunk: 0,
            stored_md5: Md5::new(),
            identity_md5: Md5::new(),
            stored_len: 0,
            identity_len: 0,
        })
    }

    /// Adds bytes of the body as the client sent them.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.identity_md5.update(data);
        self.identity_len += data.len() as u64;
        match &mut self.gzip {
            Some(enc) => {
                enc.write_all(data)
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                let out = std::mem::take(enc.get_mut());
                self.stored(&out)
            }
            None => self.stored(data),
        }
    }

    fn stored(&mut self, mut data: &[u8]) -> Result<()> {
        self.stored_md5.update(data);
        self.stored_len += data.len() as u64;
        while !data.is_empty() {
            let room = CHUNK - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == CHUNK {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let key = keys::chunk_key(self.db, self.blob, self.next_chunk);
        self.tree.insert(key, std::mem::take(&mut self.pending))?;
        self.pending.reserve(CHUNK);
        self.next_chunk += 1;
        Ok(())
    }

    /// Completes the body and registers it under its digest. Returns the
    /// metadata (revpos 0: the caller sets it) and the identity md5.
    pub fn finish(mut self, content_type: &str) -> Result<(AttMeta, [u8; 16])> {
        if let Some(enc) = self.gzip.take() {
            let rest = enc.finish().map_err(|e| Error::Corrupt(e.to_string()))?;
            self.stored(&rest)?;
        }
        self.flush_chunk()?;
        let stored: [u8; 16] = self.stored_md5.clone().finalize().into();
        let identity: [u8; 16] = self.identity_md5.clone().finalize().into();
        let gzip = self.pregzipped || self.gzip_used(stored, identity);
        let address = keys::blob_key(self.db, &stored);
        if self.tree.contains_key(&address)? {
            self.discard()?;
        } else {
            let entry = BlobEntry {
                blob: self.blob,
                stored_len: self.stored_len,
                identity_len: self.identity_len,
                gzip,
            };
            self.tree.insert(address, encode(&entry)?)?;
        }
        let meta = AttMeta {
            content_type: content_type.to_string(),
            revpos: 0,
            digest: digest_of_md5(&stored),
            length: self.identity_len,
            encoding: gzip.then(|| "gzip".to_string()),
            encoded_length: gzip.then_some(self.stored_len),
        };
        Ok((meta, identity))
    }

    fn gzip_used(&self, stored: [u8; 16], identity: [u8; 16]) -> bool {
        self.stored_len != self.identity_len || stored != identity
    }

    /// Bytes received so far (identity, or as sent when pre-gzipped).
    pub fn received(&self) -> u64 {
        self.identity_len
    }

    /// Drops what was written so far (a failed or duplicate upload).
    pub fn discard(&self) -> Result<()> {
        remove_chunks(&self.tree, self.db, self.blob)
    }
}

pub(super) fn remove_chunks(tree: &sled::Db, db: u64, blob: u64) -> Result<()> {
    let prefix = keys::chunk_prefix(db, blob);
    let mut batch = sled::Batch::default();
    for k in tree.scan_prefix(&prefix).keys() {
        batch.remove(k?);
    }
    tree.apply_batch(batch)?;
    Ok(())
}

pub(super) fn entry(tree: &sled::Db, db: u64, md5: &[u8; 16]) -> Result<Option<BlobEntry>> {
    match tree.get(keys::blob_key(db, md5))? {
        Some(raw) => Ok(Some(decode(&raw)?)),
        None => Ok(None),
    }
}

/// Reads a stored body chunk by chunk, as stored or decoded to identity.
pub struct BlobReader {
    chunks: sled::Iter,
    decoder: Option<GzDecoder<Vec<u8>>>,
    finished: bool,
}

impl BlobReader {
    pub(super) fn new(
        tree: &sled::Db,
        db: u64,
        entry: &BlobEntry,
        decode_gzip: bool,
    ) -> BlobReader {
        BlobReader {
            chunks: tree.scan_prefix(keys::chunk_prefix(db, entry.blob)),
            decoder: (decode_gzip && entry.gzip).then(|| GzDecoder::new(Vec::new())),
            finished: false,
        }
    }

    /// The next piece of the body, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(item) = self.chunks.next() else {
                self.finished = true;
                return match self.decoder.take() {
                    Some(dec) => {
                        let rest = dec.finish().map_err(|e| Error::Corrupt(e.to_string()))?;
                        Ok((!rest.is_empty()).then_some(rest))
                    }
                    None => Ok(None),
                };
            };
            let (_, chunk) = item?;
            match &mut self.decoder {
                None => return Ok(Some(chunk.to_vec())),
                Some(dec) => {
                    dec.write_all(&chunk)
                        .map_err(|e| Error::Corrupt(e.to_string()))?;
                    let out = std::mem::take(dec.get_mut());
                    if !out.is_empty() {
                        return Ok(Some(out));
                    }
                }
            }
        }
    }

    /// The whole body in memory (for inline base64 output).
    pub fn read_all(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk()? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
