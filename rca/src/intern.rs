//! Word interning for the miner: each distinct constant word gets a dense `u32` id, so
//! templates are compared and hashed as integers and every word's text is stored once.
//!
//! An open-addressing table of ids over one text arena, probed with the hash computed once
//! per lookup; id 0 is reserved for a text that lookups never find (the wildcard).

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    start: usize,
    end: usize,
}

/// Interned words.
#[derive(Debug)]
pub(crate) struct Interner {
    /// `id + 1` per slot, 0 for empty; the length is a power of two, at most half full.
    table: Vec<u32>,
    entries: Vec<Entry>,
    arena: String,
    build: ahash::RandomState,
}

impl Interner {
    /// An interner whose id 0 has text `reserved` but is never returned by a lookup.
    pub(crate) fn new(reserved: &str) -> Self {
        let mut arena = String::with_capacity(1024);
        arena.push_str(reserved);
        Self {
            table: vec![0; 64],
            entries: vec![Entry {
                hash: 0,
                start: 0,
                end: reserved.len(),
            }],
            arena,
            build: ahash::RandomState::default(),
        }
    }

    /// The id of `word`, if interned.
    #[inline]
    pub(crate) fn get(&self, word: &str) -> Option<u32> {
        self.find(word, self.build.hash_one(word)).ok()
    }

    /// The id of `word`, interning it if new.
    #[inline]
    pub(crate) fn intern(&mut self, word: &str) -> u32 {
        let hash = self.build.hash_one(word);
        match self.find(word, hash) {
            Ok(id) => id,
            Err(slot) => self.insert(word, hash, slot),
        }
    }

    /// Text of `id` (empty for an unknown id).
    pub(crate) fn text(&self, id: u32) -> &str {
        self.entries
            .get(id as usize)
            .and_then(|e| self.arena.get(e.start..e.end))
            .unwrap_or_default()
    }

    /// The id of `word`, or the empty slot where it would go.
    #[inline]
    fn find(&self, word: &str, hash: u64) -> Result<u32, usize> {
        let mask = self.table.len() - 1;
        let mut i = (hash as usize) & mask;
        loop {
            let slot = self.table[i];
            if slot == 0 {
                return Err(i);
            }
            let id = slot - 1;
            let e = &self.entries[id as usize];
            if e.hash == hash && self.arena.as_bytes().get(e.start..e.end) == Some(word.as_bytes())
            {
                return Ok(id);
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, word: &str, hash: u64, slot: usize) -> u32 {
        let id = self.entries.len() as u32;
        let start = self.arena.len();
        self.arena.push_str(word);
        self.entries.push(Entry {
            hash,
            start,
            end: self.arena.len(),
        });
        self.table[slot] = id + 1;
        if self.entries.len() * 2 > self.table.len() {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let len = self.table.len() * 2;
        let mask = len - 1;
        let mut table = vec![0u32; len];
        // Id 0 is never in the table.
        for (id, e) in self.entries.iter().enumerate().skip(1) {
            let mut i = (e.hash as usize) & mask;
            while table[i] != 0 {
                i = (i + 1) & mask;
            }
            table[i] = id as u32 + 1;
        }
        self.table = table;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_stable_and_the_reserved_text_is_never_found() {
        let mut words = Interner::new("<*>");
        assert_eq!(words.text(0), "<*>");
        assert_eq!(words.get("<*>"), None);
        let ids: Vec<u32> = (0..1000).map(|i| words.intern(&format!("w{i}"))).collect();
        assert_eq!(ids, (1..=1000).collect::<Vec<u32>>());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(words.get(&format!("w{i}")), Some(*id));
            assert_eq!(words.text(*id), format!("w{i}"));
        }
        assert_eq!(words.intern("w7"), 8);
        assert_ne!(words.intern("<*>"), 0);
        assert_eq!(words.get("nope"), None);
        assert_eq!(words.text(99_999), "");
    }
}
