//! Errors of the store, in the store's own terms (never RocksDB status codes).

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The disk or the database engine failed.
    #[error("storage i/o failed: {0}")]
    Io(String),
    /// A stored record could not be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The in-memory trace buffer is at its hard bound (the flusher has fallen
    /// behind); nothing was written, the caller should retry later.
    #[error("trace buffer is full ({held} bytes held, hard bound {bound}); retry later")]
    Overloaded { held: u64, bound: u64 },
    /// The store is shutting down and takes no more work.
    #[error("storage is shutting down")]
    ShuttingDown,
    /// The configuration cannot be used.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// A remote source (the store nodes behind a query node) could not give
    /// any answer.
    #[error("no store answered: {0}")]
    Unavailable(String),
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Io(e.into_string())
    }
}

impl From<prost::DecodeError> for StorageError {
    fn from(e: prost::DecodeError) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}

impl From<spoor_proto::fragment::FragmentError> for StorageError {
    fn from(e: spoor_proto::fragment::FragmentError) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}
