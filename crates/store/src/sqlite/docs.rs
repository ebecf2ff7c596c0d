//! Alert documents at rest: zstd frames, compressed with a dictionary trained on the store's
//! own first documents.
//!
//! Alerts from one product repeat the same keys, `@odata.type` names and enum values, and a
//! single 3–6 KB document gives zstd too little to learn them from. A dictionary carries them
//! instead: on the bench documents it made each 4.2 times smaller than level 1 alone (334
//! against 1,406 bytes) and compressing it 3.5 times faster (measured with the reference
//! library on 3,000 stored documents; dictionaries trained on 500, 1,000 or 2,000 of them
//! compressed equally well, training time grows with the samples). Smaller rows also mean
//! fewer pages for the writer to put in the WAL.
//!
//! A frame names its dictionary's id, so documents written before the dictionary existed,
//! or with an older one, decode as they always did. The dictionary is stored (table
//! `doc_dicts`) and committed before the first document that uses it, so no stored frame
//! ever names a dictionary the store lacks.
use crate::error::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use zstd::zstd_safe::{DCtx, DDict};

/// zstd level: with a dictionary, level 1 is within 3 % of level 3's size at 70 % of its time.
const LEVEL: i32 = 1;
/// Documents sampled before the dictionary is trained (zstd's guidance: samples of about a
/// hundred times the dictionary's size; training on 1,000 bench documents took 0.35 s).
const TRAIN_ON: usize = 1_000;
/// Most bytes sampled, whatever the documents weigh.
const SAMPLE_BYTES: usize = 16 << 20;
/// Documents larger than this are not sampled: they say little about the common shape.
const SAMPLE_MAX_DOC: usize = 64 << 10;
/// The dictionary's size: 16 KB and 110 KB gave the same ratio on the bench documents.
const DICT_SIZE: usize = 32 << 10;
/// Trainings a process tries before it goes on without a dictionary (each costs about a
/// third of a second; a restart tries again).
const ATTEMPTS: u32 = 3;
/// A stored frame claiming a larger document is corrupt (requests are far smaller).
const MAX_DOCUMENT: u64 = 256 << 20;

/// A trained dictionary.
#[derive(Debug)]
pub(crate) struct Dict {
    pub(crate) id: u32,
    raw: Vec<u8>,
}

#[derive(Debug)]
enum Training {
    /// Collecting documents to train on; `failed` trainings so far.
    Sampling {
        docs: Vec<Vec<u8>>,
        bytes: usize,
        failed: u32,
    },
    /// Handed out for training (see [`DocCodec::retry`] if it fails), or done.
    Over { failed: u32 },
}

/// Compresses and decompresses documents; one per store.
pub(crate) struct DocCodec {
    /// The dictionary new documents are compressed with.
    current: RwLock<Option<Arc<Dict>>>,
    /// Digested dictionaries for decoding, by id, loaded from the store when first needed.
    decoders: RwLock<HashMap<u32, Arc<DDict<'static>>>>,
    training: Mutex<Training>,
}

impl std::fmt::Debug for DocCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocCodec")
            .field("current", &self.current_id())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// A compressor per thread, with the dictionary it was made for (zstd digests a
    /// dictionary once per context and reuses it for every frame).
    static COMPRESSOR: RefCell<Option<(Option<Arc<Dict>>, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

fn zstd_err(e: std::io::Error) -> StoreError {
    StoreError::Other(Box::new(e))
}

fn damaged(why: String) -> StoreError {
    StoreError::Unavailable(format!("a stored document cannot be read: {why}"))
}

impl DocCodec {
    /// The codec for the store behind `conn`: its newest dictionary, or sampling for one.
    pub(crate) fn load(conn: &Connection) -> Result<DocCodec, StoreError> {
        let codec = DocCodec {
            current: RwLock::new(None),
            decoders: RwLock::new(HashMap::new()),
            training: Mutex::new(Training::Sampling {
                docs: Vec::new(),
                bytes: 0,
                failed: 0,
            }),
        };
        codec.take_newest(conn)?;
        Ok(codec)
    }

    /// Takes up a dictionary another process stored after this one opened the store (called
    /// when this process claims the data directory), so it does not train a second one.
    pub(crate) fn refresh(&self, conn: &Connection) -> Result<(), StoreError> {
        if self.current().is_none() {
            self.take_newest(conn)?;
        }
        Ok(())
    }

    /// Adopts the newest stored dictionary, if there is one, and stops sampling.
    fn take_newest(&self, conn: &Connection) -> Result<(), StoreError> {
        let newest: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT id, dict FROM doc_dicts ORDER BY created DESC, id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let stored = newest.and_then(|(id, raw)| {
            Some(Dict {
                id: u32::try_from(id).ok()?,
                raw,
            })
        });
        if let Some(dict) = stored {
            let id = dict.id;
            // A damaged row must not fail every ingest: documents then go without one, and
            // a new dictionary is trained.
            if self.adopt(dict) {
                *self.training.lock().unwrap_or_else(PoisonError::into_inner) =
                    Training::Over { failed: 0 };
            } else {
                tracing::warn!(id, "the stored compression dictionary is damaged; not used");
            }
        }
        Ok(())
    }

    /// Makes `dict` the one new documents are compressed with, and the decoder of its id;
    /// false (and nothing changed) if zstd rejects it.
    fn adopt(&self, dict: Dict) -> bool {
        let Some(decoder) = DDict::try_create(&dict.raw) else {
            return false;
        };
        let dict = Arc::new(dict);
        self.decoders
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(dict.id, Arc::new(decoder));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(dict);
        true
    }

    /// The id of the dictionary new documents are compressed with.
    fn current_id(&self) -> Option<u32> {
        self.current().map(|d| d.id)
    }

    fn current(&self) -> Option<Arc<Dict>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Compresses one document with the current dictionary.
    pub(crate) fn compress(&self, data: &[u8]) -> Result<Vec<u8>, StoreError> {
        let dict = self.current();
        COMPRESSOR.with(|slot| {
            let mut slot = slot.borrow_mut();
            let made_for = |m: &Option<Arc<Dict>>| m.as_ref().map(Arc::as_ptr);
            if slot.as_ref().map(|(m, _)| made_for(m)) != Some(made_for(&dict)) {
                let raw = dict.as_ref().map_or(&[][..], |d| d.raw.as_slice());
                let c = zstd::bulk::Compressor::with_dictionary(LEVEL, raw).map_err(zstd_err)?;
                *slot = Some((dict.clone(), c));
            }
            match slot.as_mut() {
                Some((_, c)) => c.compress(data).map_err(zstd_err),
                None => Err(StoreError::Unavailable("compressor".into())),
            }
        })
    }

    /// Decompresses a stored document, loading the dictionary its frame names from `conn`
    /// the first time it is needed.
    pub(crate) fn decompress(&self, conn: &Connection, data: &[u8]) -> Result<Vec<u8>, StoreError> {
        let Some(id) = zstd::zstd_safe::get_dict_id_from_frame(data) else {
            return zstd::stream::decode_all(data).map_err(zstd_err);
        };
        let dict = self.decoder(conn, id.get())?;
        // Frames record their size (the compressor knows it), so one exact allocation.
        let size = zstd::zstd_safe::get_frame_content_size(data)
            .ok()
            .flatten()
            .filter(|n| *n <= MAX_DOCUMENT)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| damaged("its frame gives no usable size".into()))?;
        let mut out = Vec::with_capacity(size);
        DCtx::try_create()
            .ok_or_else(|| StoreError::Unavailable("zstd decompression context".into()))?
            .decompress_using_ddict(&mut out, data, &dict)
            .map_err(|code| damaged(zstd::zstd_safe::get_error_name(code).into()))?;
        Ok(out)
    }

    fn decoder(&self, conn: &Connection, id: u32) -> Result<Arc<DDict<'static>>, StoreError> {
        if let Some(d) = self
            .decoders
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Ok(Arc::clone(d));
        }
        let raw: Vec<u8> = conn
            .prepare_cached("SELECT dict FROM doc_dicts WHERE id = ?1")?
            .query_row([i64::from(id)], |r| r.get(0))
            .optional()?
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "a stored document names compression dictionary {id}, which the store does not hold"
                ))
            })?;
        let d = Arc::new(
            DDict::try_create(&raw)
                .ok_or_else(|| damaged(format!("compression dictionary {id} is damaged")))?,
        );
        self.decoders
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&d));
        Ok(d)
    }

    /// Offers a batch's documents as training samples; returns them all once enough are
    /// collected (exactly once per codec), for [`train`].
    pub(crate) fn sample<'a>(&self, docs: impl Iterator<Item = &'a [u8]>) -> Option<Vec<Vec<u8>>> {
        let mut t = self.training.lock().unwrap_or_else(PoisonError::into_inner);
        let Training::Sampling {
            docs: taken,
            bytes,
            failed,
        } = &mut *t
        else {
            return None;
        };
        for d in docs {
            if taken.len() >= TRAIN_ON || *bytes >= SAMPLE_BYTES {
                break;
            }
            if d.len() <= SAMPLE_MAX_DOC {
                *bytes += d.len();
                taken.push(d.to_vec());
            }
        }
        if taken.len() < TRAIN_ON && *bytes < SAMPLE_BYTES {
            return None;
        }
        let failed = *failed;
        match std::mem::replace(&mut *t, Training::Over { failed }) {
            Training::Sampling { docs, .. } => Some(docs),
            Training::Over { .. } => None,
        }
    }

    /// Training or storing the dictionary failed: sample afresh, unless this process has
    /// failed [`ATTEMPTS`] times already.
    pub(crate) fn retry(&self) {
        let mut t = self.training.lock().unwrap_or_else(PoisonError::into_inner);
        if let Training::Over { failed } = *t {
            if failed + 1 < ATTEMPTS {
                *t = Training::Sampling {
                    docs: Vec::new(),
                    bytes: 0,
                    failed: failed + 1,
                };
            }
        }
    }

    /// Makes a trained `dict` the one new documents are compressed with. Call only once it
    /// is committed (see [`save`]).
    pub(crate) fn publish(&self, dict: Dict) {
        let id = dict.id;
        if !self.adopt(dict) {
            tracing::warn!(id, "zstd cannot use the trained dictionary");
            self.retry();
        }
    }
}

/// Trains a dictionary on sampled documents. `None` when zstd finds nothing to learn (too
/// few or too uniform samples): documents then stay compressed without one.
pub(crate) fn train(samples: &[Vec<u8>]) -> Option<Dict> {
    let started = std::time::Instant::now();
    let raw = match zstd::dict::from_samples(samples, DICT_SIZE) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::warn!(error = %e, "no dictionary for alert documents; they stay compressed without one");
            return None;
        }
    };
    let id = zstd::zstd_safe::get_dict_id_from_dict(&raw)?.get();
    tracing::info!(
        id,
        bytes = raw.len(),
        samples = samples.len(),
        ms = started.elapsed().as_millis(),
        "trained a compression dictionary for alert documents"
    );
    Some(Dict { id, raw })
}

/// Stores `dict` (inside the writer's transaction). An error if the store already holds a
/// different dictionary under its id: it must then not be used.
pub(crate) fn save(conn: &Connection, dict: &Dict, now_micros: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO doc_dicts (id, dict, created) VALUES (?1, ?2, ?3)",
        params![i64::from(dict.id), dict.raw, now_micros],
    )?;
    let held: Vec<u8> = conn.query_row(
        "SELECT dict FROM doc_dicts WHERE id = ?1",
        [i64::from(dict.id)],
        |r| r.get(0),
    )?;
    if held != dict.raw {
        return Err(StoreError::Unavailable(format!(
            "the store holds another dictionary with id {}",
            dict.id
        )));
    }
    Ok(())
}
