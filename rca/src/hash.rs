//! Hashing for the miner's tables: aHash, keyed per process, fast on the short keys the miner
//! uses and resistant to keys chosen to collide (log words come from untrusted senders).

/// The builder of every miner and interner table.
pub(crate) type HashBuild = ahash::RandomState;

/// A map hashed with [`HashBuild`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, HashBuild>;
