//! The shared symbol table: every distinct label name and value stored once, named by a u32.
//! Series keep their labels as symbol ids, so a label string costs its bytes once per store.

use std::collections::HashMap;
use std::sync::Arc;

/// Interned strings. Symbols are never removed: the table grows with the distinct strings
/// ever seen, which the cardinality limit bounds in practice.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    ids: HashMap<Arc<str>, u32, ahash::RandomState>,
    strings: Vec<Arc<str>>,
    text_bytes: usize,
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

    /// The string of an id; `""` for an id this table never gave out.
    pub(crate) fn resolve(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    /// Heap bytes held: string bytes with their reference counts, the id map and the list.
    pub(crate) fn heap_bytes(&self) -> usize {
        let arc_header = 2 * std::mem::size_of::<usize>();
        self.text_bytes
            + self.strings.len() * arc_header
            + self.strings.capacity() * std::mem::size_of::<Arc<str>>()
            + self.ids.capacity() * (std::mem::size_of::<(Arc<str>, u32)>() + 1)
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
    }
}
