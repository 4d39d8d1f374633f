//! Small named values other crates persist through the store (for example
//! the adaptive sampling probabilities), in the `meta` column family under a
//! `setting/` prefix.
//!
//! In: a name and bytes. Out: the bytes last stored under that name.

use crate::error::StorageError;
use crate::keys;
use crate::rocks::Store;

fn setting_key(name: &str) -> Vec<u8> {
    let mut key = b"setting/".to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

impl Store {
    /// Stores `value` under `name` (durably, like any other write).
    pub fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), StorageError> {
        let meta = self.cf(keys::META_CF)?;
        self.db.put_cf(&meta, setting_key(name), value)?;
        Ok(())
    }

    /// The value last stored under `name`.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let meta = self.cf(keys::META_CF)?;
        Ok(self.db.get_cf(&meta, setting_key(name))?)
    }
}

#[cfg(test)]
mod tests {
    use crate::{StorageConfig, Store};

    #[test]
    fn settings_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            data_dir: dir.path().to_path_buf(),
            ..StorageConfig::default()
        };
        {
            let store = Store::open(config.clone()).unwrap();
            assert_eq!(store.setting("a").unwrap(), None);
            store.put_setting("a", b"one").unwrap();
            store.put_setting("a", b"two").unwrap();
            store.shutdown().unwrap();
        }
        let store = Store::open(config).unwrap();
        assert_eq!(store.setting("a").unwrap().as_deref(), Some(&b"two"[..]));
    }
}
