//! The shared symbol table: every distinct label name and value stored once, named by a u32,
//! and every distinct `name="value"` pair named by a u32 over those.
//! Series keep their labels as pair ids, so a label costs four bytes per series and its text
//! once per store; many series share each pair (`job="node"`, `cpu="0"`, an instance).

use std::collections::HashMap;
use std::sync::Arc;

/// Heap bytes of a std (hashbrown) map: its buckets, one control byte each and a group of
/// trailing control bytes, derived from the capacity the table reports.
pub(crate) fn map_bytes<K, V, S>(map: &HashMap<K, V, S>) -> usize {
    let capacity = map.capacity();
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

/// Interned strings and label pairs. Nothing is ever removed: the table grows with the
/// distinct strings and pairs ever seen, which the cardinality limit bounds in practice.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    ids: HashMap<Arc<str>, u32, ahash::RandomState>,
    strings: Vec<Arc<str>>,
    text_bytes: usize,
    pair_ids: HashMap<(u32, u32), u32, ahash::RandomState>,
    /// Name and value symbol of each pair id.
    pairs: Vec<(u32, u32)>,
}

impl Symbols {
    /// The id of `text`, adding it if new.
    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.strings.len() as u32;
        let shared: Arc<str> = Arc::from(text);
        self.text_bytes += text.len();
        self.ids.insert(Arc::clone(&shared), id);
        self.strings.push(shared);
        id
    }

    /// The id of the pair `name="value"`, adding it (and its strings) if new.
    pub(crate) fn intern_pair(&mut self, name: &str, value: &str) -> u32 {
        let key = (self.intern(name), self.intern(value));
        if let Some(&id) = self.pair_ids.get(&key) {
            return id;
        }
        let id = self.pairs.len() as u32;
        self.pair_ids.insert(key, id);
        self.pairs.push(key);
        id
    }

    /// Pairs interned so far (every pair id is below).
    pub(crate) fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// The id of `text` if the table holds it.
    pub(crate) fn lookup(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The id of the pair `name="value"` if the table holds it.
    pub(crate) fn lookup_pair(&self, name: &str, value: &str) -> Option<u32> {
        let key = (self.lookup(name)?, self.lookup(value)?);
        self.pair_ids.get(&key).copied()
    }

    /// The string of an id; `""` for an id this table never gave out.
    pub(crate) fn resolve(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    /// Name and value symbol ids of a pair; `u32::MAX` twice for an unknown pair.
    pub(crate) fn pair(&self, id: u32) -> (u32, u32) {
        self.pairs
            .get(id as usize)
            .copied()
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// Name and value of a pair; `""` for what this table never gave out.
    pub(crate) fn pair_text(&self, id: u32) -> (&str, &str) {
        let (name, value) = self.pair(id);
        (self.resolve(name), self.resolve(value))
    }

    /// Heap bytes held: string bytes with their reference counts, the id maps and the lists.
    pub(crate) fn heap_bytes(&self) -> usize {
        let arc_header = 2 * std::mem::size_of::<usize>();
        self.text_bytes
            + self.strings.len() * arc_header
            + self.strings.capacity() * std::mem::size_of::<Arc<str>>()
            + map_bytes(&self.ids)
            + self.pairs.capacity() * std::mem::size_of::<(u32, u32)>()
            + map_bytes(&self.pair_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent() {
        let mut symbols = Symbols::default();
        let a = symbols.intern("job");
        let b = symbols.intern("instance");
        assert_ne!(a, b);
        assert_eq!(symbols.intern("job"), a);
        assert_eq!(symbols.resolve(b), "instance");
        assert_eq!(symbols.resolve(99), "");
        assert_eq!(symbols.lookup("job"), Some(a));
        assert_eq!(symbols.lookup("nope"), None);
    }

    #[test]
    fn pairs_are_shared() {
        let mut symbols = Symbols::default();
        let node = symbols.intern_pair("job", "node");
        let api = symbols.intern_pair("job", "api");
        assert_ne!(node, api);
        assert_eq!(symbols.intern_pair("job", "node"), node);
        assert_eq!(symbols.pair_text(api), ("job", "api"));
        assert_eq!(symbols.pair_text(7), ("", ""));
        assert_eq!(symbols.lookup("node"), Some(symbols.pair(node).1));
    }

    #[test]
    fn map_bytes_count_every_bucket() {
        let mut map: HashMap<u32, u32> = HashMap::new();
        assert_eq!(map_bytes(&map), 0);
        map.extend((0..100).map(|i| (i, i)));
        // 100 entries need 128 buckets of 8 bytes and a control byte each.
        assert_eq!(map_bytes(&map), 128 * 9 + 16);
    }
}
