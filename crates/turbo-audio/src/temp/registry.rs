//! The registry of live temp files and their metadata.
//!
//! A [`DashMap`] keyed by the file's counter: inserts and removals lock one of
//! its shards, never the whole map, and the per-write updates (size, state) are
//! atomics on the file's own [`FileMeta`], which the handle holds directly, so
//! a write does not touch the map at all.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::SystemTime;

use dashmap::DashMap;

/// Where a temp file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TempFileState {
    /// Created; data is being written.
    Writing,
    /// [`TempFile::finish`](super::TempFile::finish) was called.
    Complete,
    /// The handle was dropped; the deletion queue is removing it.
    PendingDeletion,
}

impl TempFileState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Writing,
            1 => Self::Complete,
            _ => Self::PendingDeletion,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Self::Writing => 0,
            Self::Complete => 1,
            Self::PendingDeletion => 2,
        }
    }
}

/// A snapshot of one registered temp file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TempFileInfo {
    /// Where it is.
    pub path: PathBuf,
    /// Bytes written so far.
    pub size: u64,
    /// When it was created.
    pub created: SystemTime,
    /// The owner tag given to [`TempFileManager::create`](super::TempFileManager::create).
    pub owner: String,
    /// Where it is in its life.
    pub state: TempFileState,
}

/// One registered file's metadata, shared by its handle and the registry.
#[derive(Debug)]
pub(crate) struct FileMeta {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    pub(crate) owner: Box<str>,
    pub(crate) created: SystemTime,
    size: AtomicU64,
    state: AtomicU8,
}

impl FileMeta {
    pub(crate) fn new(id: u64, path: PathBuf, owner: &str) -> Self {
        Self {
            id,
            path,
            owner: owner.into(),
            created: SystemTime::now(),
            size: AtomicU64::new(0),
            state: AtomicU8::new(TempFileState::Writing.as_u8()),
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    pub(crate) fn add_size(&self, bytes: u64) {
        self.size.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn state(&self) -> TempFileState {
        TempFileState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(crate) fn set_state(&self, state: TempFileState) {
        self.state.store(state.as_u8(), Ordering::Relaxed);
    }

    fn info(&self) -> TempFileInfo {
        TempFileInfo {
            path: self.path.clone(),
            size: self.size(),
            created: self.created,
            owner: self.owner.to_string(),
            state: self.state(),
        }
    }
}

/// The live files of one manager.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    files: DashMap<u64, Arc<FileMeta>>,
}

impl Registry {
    pub(crate) fn insert(&self, meta: Arc<FileMeta>) {
        self.files.insert(meta.id, meta);
    }

    pub(crate) fn remove(&self, id: u64) {
        self.files.remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    pub(crate) fn snapshot(&self) -> Vec<TempFileInfo> {
        let mut files: Vec<TempFileInfo> = self
            .files
            .iter()
            .map(|entry| entry.value().info())
            .collect();
        files.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.path.cmp(&b.path)));
        files
    }
}
