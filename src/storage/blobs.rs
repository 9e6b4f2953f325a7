//! Attachment bodies: content-addressed, streamed, never whole in memory.
//!
//! A body is written as it arrives, gzip-compressed on the way in for
//! compressible types. When it is complete its digest (md5 of the stored
//! bytes, CouchDB's `digest`) becomes its address: if a body with that
//! digest already exists the new copy is dropped, so identical bodies are
//! stored once per database. A sled entry per digest (`a` keys) records
//! lengths and encoding.
//!
//! On disk, bodies are plain files `<data dir>/attachments/<db id>/<md5 hex>`,
//! written to a temporary file, fsynced and renamed into place before the
//! document that refers to them is written; sled would keep written values
//! resident, so memory would grow with attachment size. In memory
//! (`--in-memory`) they are 64 KiB chunks in sled (`c` keys). Unreferenced
//! bodies are reclaimed by compaction and with the database.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::{GzDecoder, ZlibEncoder};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{decode, encode, keys};
use crate::couch::attachment::{digest_of_md5, AttMeta};
use crate::error::{Error, Result};

/// Size of one stored chunk (and of one read).
pub const CHUNK: usize = 64 * 1024;

/// What is known about one stored body.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BlobEntry {
    /// Chunk id of the body (in-memory stores only).
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
    /// Gzip-compressed on the way in at this level, 1–9 (compressible
    /// content types, `[attachments] compression_level`).
    Compress(u32),
    /// It already arrives gzip-compressed (`Content-Encoding: gzip`, or a
    /// replicator's `"encoding": "gzip"`): stored as it comes.
    Gzipped,
}

/// A gzip stream as `couch_stream:gzip_init` opens one: zlib's
/// `deflateInit2(level, deflated, 16 + 15, memLevel 8, default)`. zlib
/// writes the gzip header and trailer itself, so the stored bytes, and the
/// digest and revision ids computed from them, are CouchDB's exactly.
fn couch_gzip(level: u32) -> ZlibEncoder<Vec<u8>> {
    let deflate = flate2::Compress::new_gzip(flate2::Compression::new(level.clamp(1, 9)), 15);
    ZlibEncoder::new_with_compress(Vec::new(), deflate)
}

fn io_err(e: std::io::Error) -> Error {
    Error::Corrupt(format!("attachment storage: {e}"))
}

/// The attachment bodies of one database.
#[derive(Clone)]
pub struct BlobStore {
    tree: sled::Db,
    db: u64,
    /// Directory of body files; `None` keeps bodies in sled (in-memory stores).
    dir: Option<PathBuf>,
}

/// The directory of one database's body files under the attachments root.
pub fn db_dir(root: &Path, db: u64) -> PathBuf {
    root.join(format!("{db:016x}"))
}

impl BlobStore {
    pub(super) fn new(tree: sled::Db, db: u64, root: Option<&Path>) -> BlobStore {
        BlobStore {
            tree,
            db,
            dir: root.map(|r| db_dir(r, db)),
        }
    }

    fn file_of(&self, dir: &Path, md5: &[u8; 16]) -> PathBuf {
        dir.join(hex::encode(md5))
    }

    /// Starts streaming a new body into storage.
    pub fn writer(&self, encoding: Encoding) -> Result<BlobWriter> {
        let blob = self.tree.generate_id()?;
        let sink = match &self.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(io_err)?;
                let tmp = dir.join(format!("tmp-{blob:016x}"));
                let file = File::create(&tmp).map_err(io_err)?;
                Sink::File {
                    out: BufWriter::with_capacity(CHUNK, file),
                    tmp,
                }
            }
            None => Sink::Chunks {
                pending: Vec::with_capacity(CHUNK),
                next_chunk: 0,
            },
        };
        Ok(BlobWriter {
            store: self.clone(),
            blob,
            sink,
            gzip: match encoding {
                Encoding::Compress(level) => Some(couch_gzip(level)),
                Encoding::Identity | Encoding::Gzipped => None,
            },
            pregzipped: encoding == Encoding::Gzipped,
            stored_md5: Md5::new(),
            identity_md5: Md5::new(),
            stored_len: 0,
            identity_len: 0,
        })
    }

    fn entry(&self, md5: &[u8; 16]) -> Result<Option<BlobEntry>> {
        match self.tree.get(keys::blob_key(self.db, md5))? {
            Some(raw) => Ok(Some(decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// Opens a stored body; `decode_gzip` un-gzips compressed ones.
    pub fn reader(&self, md5: &[u8; 16], decode_gzip: bool) -> Result<Option<BlobReader>> {
        let Some(entry) = self.entry(md5)? else {
            return Ok(None);
        };
        let source = match &self.dir {
            Some(dir) => match File::open(self.file_of(dir, md5)) {
                Ok(file) => Source::File(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(e)),
            },
            None => Source::Chunks(Box::new(
                self.tree
                    .scan_prefix(keys::chunk_prefix(self.db, entry.blob)),
            )),
        };
        let decoder = (decode_gzip && entry.gzip).then(|| GzDecoder::new(Vec::new()));
        Ok(Some(BlobReader {
            source,
            decoder,
            finished: false,
        }))
    }

    /// Deletes every body whose digest is not in `referenced`, and what
    /// unfinished uploads left behind. The caller makes sure no upload is
    /// under way. Returns the bytes reclaimed.
    pub fn sweep(&self, referenced: &std::collections::HashSet<[u8; 16]>) -> Result<u64> {
        let prefix = keys::blob_prefix(self.db);
        let mut live_chunks = std::collections::HashSet::new();
        let mut reclaimed = 0u64;
        let mut unreferenced = sled::Batch::default();
        let mut doomed_files = Vec::new();
        for item in self.tree.scan_prefix(&prefix) {
            let (key, raw) = item?;
            let entry: BlobEntry = decode(&raw)?;
            let Some(md5) = key
                .get(prefix.len()..)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
            else {
                continue;
            };
            if referenced.contains(&md5) {
                live_chunks.insert(entry.blob);
                continue;
            }
            unreferenced.remove(key);
            doomed_files.push((md5, entry.stored_len));
        }
        // The entries go, durably, before any file: an entry must never
        // outlive its file, or a later upload of the same bytes would be
        // de-duplicated against nothing.
        self.tree.apply_batch(unreferenced)?;
        self.tree.flush()?;
        if let Some(dir) = &self.dir {
            for (md5, stored_len) in doomed_files {
                match std::fs::remove_file(self.file_of(dir, &md5)) {
                    Ok(()) => reclaimed += stored_len,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
        }
        match &self.dir {
            Some(dir) => reclaimed += remove_temp_files(dir)?,
            None => {
                let mut batch = sled::Batch::default();
                for item in self.tree.scan_prefix(keys::chunks_prefix(self.db)) {
                    let (key, raw) = item?;
                    if keys::blob_of_chunk(&key).is_some_and(|b| !live_chunks.contains(&b)) {
                        reclaimed += raw.len() as u64;
                        batch.remove(key);
                    }
                }
                self.tree.apply_batch(batch)?;
            }
        }
        Ok(reclaimed)
    }
}

fn remove_temp_files(dir: &Path) -> Result<u64> {
    let mut reclaimed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err)?;
        if entry.file_name().to_string_lossy().starts_with("tmp-") {
            reclaimed += entry.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(entry.path()).map_err(io_err)?;
        }
    }
    Ok(reclaimed)
}

enum Sink {
    Chunks { pending: Vec<u8>, next_chunk: u32 },
    File { out: BufWriter<File>, tmp: PathBuf },
}

/// Streams one body into storage.
pub struct BlobWriter {
    store: BlobStore,
    blob: u64,
    sink: Sink,
    gzip: Option<ZlibEncoder<Vec<u8>>>,
    pregzipped: bool,
    stored_md5: Md5,
    identity_md5: Md5,
    stored_len: u64,
    identity_len: u64,
}

impl BlobWriter {
    /// Adds bytes of the body as the client sent them.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.identity_md5.update(data);
        self.identity_len += data.len() as u64;
        match &mut self.gzip {
            Some(enc) => {
                enc.write_all(data).map_err(io_err)?;
                let out = std::mem::take(enc.get_mut());
                self.stored(&out)
            }
            None => self.stored(data),
        }
    }

    /// Bytes received so far (identity, or as sent when pre-gzipped).
    pub fn received(&self) -> u64 {
        self.identity_len
    }

    fn stored(&mut self, mut data: &[u8]) -> Result<()> {
        self.stored_md5.update(data);
        self.stored_len += data.len() as u64;
        match &mut self.sink {
            Sink::File { out, .. } => out.write_all(data).map_err(io_err),
            Sink::Chunks {
                pending,
                next_chunk,
            } => {
                while !data.is_empty() {
                    let take = (CHUNK - pending.len()).min(data.len());
                    pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if pending.len() == CHUNK {
                        let key = keys::chunk_key(self.store.db, self.blob, *next_chunk);
                        self.store.tree.insert(key, std::mem::take(pending))?;
                        pending.reserve(CHUNK);
                        *next_chunk += 1;
                    }
                }
                Ok(())
            }
        }
    }

    /// Completes the body, makes it durable and registers it under its
    /// digest. Returns its metadata (revpos 0: the caller sets it).
    pub fn finish(mut self, content_type: &str) -> Result<AttMeta> {
        if let Some(enc) = self.gzip.take() {
            let rest = enc.finish().map_err(io_err)?;
            self.stored(&rest)?;
        }
        let stored: [u8; 16] = self.stored_md5.clone().finalize().into();
        let identity: [u8; 16] = self.identity_md5.clone().finalize().into();
        let gzip = self.pregzipped || self.stored_len != self.identity_len || stored != identity;
        let mut exists = self
            .store
            .tree
            .contains_key(keys::blob_key(self.store.db, &stored))?;
        if let (Some(dir), Sink::File { .. }) = (&self.store.dir, &self.sink) {
            // Trust the file, not only its entry.
            exists = exists && self.store.file_of(dir, &stored).is_file();
        }
        match std::mem::replace(
            &mut self.sink,
            Sink::Chunks {
                pending: Vec::new(),
                next_chunk: 0,
            },
        ) {
            Sink::File { out, tmp } => {
                let file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
                let dir = self.store.dir.clone().unwrap_or_default();
                if exists {
                    std::fs::remove_file(&tmp).map_err(io_err)?;
                } else {
                    file.sync_all().map_err(io_err)?;
                    std::fs::rename(&tmp, self.store.file_of(&dir, &stored)).map_err(io_err)?;
                    File::open(&dir)
                        .and_then(|d| d.sync_all())
                        .map_err(io_err)?;
                }
            }
            Sink::Chunks {
                pending,
                next_chunk,
            } => {
                if exists {
                    self.discard()?;
                } else if !pending.is_empty() {
                    let key = keys::chunk_key(self.store.db, self.blob, next_chunk);
                    self.store.tree.insert(key, pending)?;
                }
            }
        }
        if !exists {
            let entry = BlobEntry {
                blob: self.blob,
                stored_len: self.stored_len,
                identity_len: self.identity_len,
                gzip,
            };
            self.store
                .tree
                .insert(keys::blob_key(self.store.db, &stored), encode(&entry)?)?;
        }
        Ok(AttMeta {
            content_type: content_type.to_string(),
            revpos: 0,
            digest: digest_of_md5(&stored),
            length: self.identity_len,
            encoding: gzip.then(|| "gzip".to_string()),
            encoded_length: gzip.then_some(self.stored_len),
        })
    }

    /// Drops what was written so far (a failed or duplicate upload).
    pub fn discard(&self) -> Result<()> {
        match &self.sink {
            Sink::File { tmp, .. } => match std::fs::remove_file(tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
                _ => Ok(()),
            },
            Sink::Chunks { .. } => super::remove_prefix(
                &self.store.tree,
                &keys::chunk_prefix(self.store.db, self.blob),
            ),
        }
    }
}

enum Source {
    Chunks(Box<sled::Iter>),
    File(File),
}

/// Reads a stored body chunk by chunk, as stored or decoded to identity.
pub struct BlobReader {
    source: Source,
    decoder: Option<GzDecoder<Vec<u8>>>,
    finished: bool,
}

impl BlobReader {
    fn next_stored(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.source {
            Source::Chunks(iter) => match iter.next() {
                Some(item) => Ok(Some(item?.1.to_vec())),
                None => Ok(None),
            },
            Source::File(file) => {
                let mut buf = vec![0u8; CHUNK];
                let n = file.read(&mut buf).map_err(io_err)?;
                buf.truncate(n);
                Ok((n > 0).then_some(buf))
            }
        }
    }

    /// The next piece of the body, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(chunk) = self.next_stored()? else {
                self.finished = true;
                return match self.decoder.take() {
                    Some(dec) => {
                        let rest = dec.finish().map_err(io_err)?;
                        Ok((!rest.is_empty()).then_some(rest))
                    }
                    None => Ok(None),
                };
            };
            match &mut self.decoder {
                None => return Ok(Some(chunk)),
                Some(dec) => {
                    dec.write_all(&chunk).map_err(io_err)?;
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
