//! Streaming log template mining: a Drain-style fixed-depth parse tree over masked tokens,
//! learned online, giving each line a template id, the template text and its parameters.
//!
//! Lines are split on whitespace, digit-bearing tokens are masked first (see [`crate::mask`]),
//! then a tree keyed by token count and the first few tokens picks a small leaf of candidate
//! templates; the most similar one absorbs the line (differing positions become `<*>`) or a new
//! template starts. Within a template, the words a generalised position takes keep lines apart
//! while the position has shown at most `max_variant_values` distinct values (`client SPP.` and
//! `client WindowsUpdateAgent.` are two events; `user <*>` over many names is one); once it
//! shows more, its variants join. Joins alias the older id, so a template id stays valid.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::intern::Interner;
use crate::mask::{WILDCARD, is_digitless_parameter};
use ahash::HashMap as FastMap;

/// Token id of the wildcard `<*>`.
const WILD: u32 = 0;

/// Identifier of a learned template; stable for the miner's lifetime.
pub type TemplateId = u32;

/// Tuning of the miner. One configuration serves every log source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerConfig {
    /// Number of leading tokens used to route a line in the tree.
    pub prefix_tokens: usize,
    /// Share of equal constant positions needed to join a template, in `[0, 1]`.
    pub similarity: f64,
    /// Children per tree node before further distinct tokens share the wildcard child.
    pub max_children: usize,
    /// Join templates whose constant words are the same sequence (variable-length parameters).
    pub merge_same_constants: bool,
    /// Distinct values a generalised position may take while its lines stay apart by value
    /// (0: never apart). Past this many it is a parameter and its variants join.
    pub max_variant_values: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            prefix_tokens: 2,
            similarity: 0.7,
            max_children: 100,
            merge_same_constants: true,
            max_variant_values: 3,
        }
    }
}

/// One learned template (a tree template or a variant of one by its words).
#[derive(Debug, Clone)]
struct Cluster {
    /// The tree template's tokens (empty for a variant that is not a tree template).
    tokens: Vec<u32>,
    /// Lines of this variant.
    count: u64,
    /// Union-find parent: a template joined to an older one.
    parent: TemplateId,
    /// The tree template this is a variant of (itself for a tree template).
    of: TemplateId,
    /// The variant's words (`WILD` at numbers and at positions shown to be parameters).
    key: Vec<u32>,
}

/// The variants of one tree template: by key, and which positions are parameters.
#[derive(Debug, Default)]
struct Variants {
    by_key: FastMap<Vec<u32>, TemplateId>,
    parameter: Vec<bool>,
}

#[derive(Debug, Default)]
struct Node {
    children: FastMap<u32, Node>,
    clusters: Vec<TemplateId>,
}

/// The result of mining one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedLine {
    pub template_id: TemplateId,
    /// Template text with `<*>` for parameters, as it stands after this line.
    pub template: String,
    /// Values of the line at the template's `<*>` positions, in order.
    pub parameters: Vec<String>,
}

/// Summary of a learned template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    pub id: TemplateId,
    pub template: String,
    pub count: u64,
}

/// A token of a line: its text (a parameter may span a number and its unit) and whether it is
/// masked as a parameter before mining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub parameter: bool,
}

/// Online template miner. Feed lines with [`TemplateMiner::add`] or [`TemplateMiner::parse`].
///
/// Ids returned earlier stay valid; when two templates turn out to be one (same constant words,
/// parameters of different lengths) the newer id becomes an alias, resolved by
/// [`TemplateMiner::group`].
#[derive(Debug)]
pub struct TemplateMiner {
    config: MinerConfig,
    words: Interner,
    clusters: Vec<Cluster>,
    by_length: FastMap<usize, Node>,
    by_constants: FastMap<Vec<u32>, TemplateId>,
    variants: FastMap<TemplateId, Variants>,
    scratch_tokens: Vec<u32>,
    scratch_shapes: Vec<u32>,
    scratch_shape: String,
    scratch_key: Vec<u32>,
    scratch_words: Vec<(usize, usize, bool)>,
}

impl Default for TemplateMiner {
    fn default() -> Self {
        Self::new(MinerConfig::default())
    }
}

impl TemplateMiner {
    pub fn new(config: MinerConfig) -> Self {
        Self {
            config,
            words: Interner::new(WILDCARD),
            clusters: Vec::new(),
            by_length: FastMap::default(),
            by_constants: FastMap::default(),
            variants: FastMap::default(),
            scratch_tokens: Vec::new(),
            scratch_shapes: Vec::new(),
            scratch_shape: String::new(),
            scratch_key: Vec::new(),
            scratch_words: Vec::new(),
        }
    }

    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Splits a line's content into the tokens the miner works on, parameters masked.
    pub fn tokenize<'a>(content: &'a str) -> Vec<Token<'a>> {
        let mut spans = Vec::new();
        lex(content, &mut spans);
        spans
            .into_iter()
            .map(|(s, e, parameter)| Token {
                text: &content[s..e],
                parameter,
            })
            .collect()
    }

    /// Learns from one line and returns its template id (the fast path: no strings built).
    pub fn add(&mut self, content: &str) -> TemplateId {
        let mut spans = std::mem::take(&mut self.scratch_words);
        lex(content, &mut spans);
        let mut ids = std::mem::take(&mut self.scratch_tokens);
        let mut shapes = std::mem::take(&mut self.scratch_shapes);
        ids.clear();
        shapes.clear();
        for &(s, e, parameter) in &spans {
            if parameter {
                ids.push(WILD);
                shapes.push(self.shape(&content[s..e]));
            } else {
                let id = self.words.intern(&content[s..e]);
                ids.push(id);
                shapes.push(id);
            }
        }
        let id = self.learn(&ids, &shapes);
        self.scratch_tokens = ids;
        self.scratch_shapes = shapes;
        self.scratch_words = spans;
        self.group(id)
    }

    /// The shape a parameter token keeps apart by: its text with every run of digits as one
    /// `0` (`SOCKS5` → `SOCKS0`, `LOGIN(uid=0)` → `LOGIN(uid=0)`), or `WILD` for one with no
    /// letters but hex digits (numbers, addresses, times, ids).
    fn shape(&mut self, text: &str) -> u32 {
        if !worded(text) {
            return WILD;
        }
        let mut skeleton = std::mem::take(&mut self.scratch_shape);
        skeleton.clear();
        skeleton_into(text, &mut skeleton);
        let id = self.words.intern(&skeleton);
        self.scratch_shape = skeleton;
        id
    }

    /// Learns from one line and returns its template and parameters.
    pub fn parse(&mut self, content: &str) -> ParsedLine {
        let mut spans = Vec::new();
        lex(content, &mut spans);
        let mut ids = Vec::with_capacity(spans.len());
        let mut shapes = Vec::with_capacity(spans.len());
        for &(s, e, parameter) in &spans {
            if parameter {
                ids.push(WILD);
                shapes.push(self.shape(&content[s..e]));
            } else {
                let id = self.words.intern(&content[s..e]);
                ids.push(id);
                shapes.push(id);
            }
        }
        let cluster = self.learn(&ids, &shapes);
        let template_id = self.group(cluster);
        let tokens = self.tokens_of(template_id);
        let parameters = tokens
            .iter()
            .zip(&spans)
            .filter(|(t, _)| **t == WILD || self.is_shape(**t))
            .map(|(_, (s, e, _))| content[*s..*e].to_owned())
            .collect();
        ParsedLine {
            template_id,
            template: self.render(template_id),
            parameters,
        }
    }

    /// Finds the template a line fits, without learning from it.
    pub fn match_line(&self, content: &str) -> Option<TemplateId> {
        let mut spans = Vec::new();
        lex(content, &mut spans);
        let ids: Option<Vec<u32>> = spans
            .iter()
            .map(|&(s, e, parameter)| {
                if parameter {
                    Some(WILD)
                } else {
                    self.words.get(&content[s..e])
                }
            })
            .collect();
        let ids = ids?;
        let leaf = self.leaf(&ids)?;
        let tree = leaf.clusters.iter().copied().find(|&c| {
            self.clusters[c as usize]
                .tokens
                .iter()
                .zip(&ids)
                .all(|(t, i)| *t == WILD || t == i)
        })?;
        let shapes: Option<Vec<u32>> = spans
            .iter()
            .zip(&ids)
            .map(|(&(s, e, parameter), &id)| {
                if parameter {
                    self.shape_of(&content[s..e])
                } else {
                    Some(id)
                }
            })
            .collect();
        let variant = self
            .variants
            .get(&tree)
            .zip(shapes)
            .and_then(|(v, shapes)| v.by_key.get(&key_of(&shapes, &v.parameter)).copied());
        Some(self.group(variant.unwrap_or(tree)))
    }

    /// The current id of the group `id` belongs to (itself unless it was joined to another).
    pub fn group(&self, id: TemplateId) -> TemplateId {
        let mut id = id;
        while let Some(c) = self.clusters.get(id as usize) {
            if c.parent == id {
                break;
            }
            id = c.parent;
        }
        id
    }

    /// Template text of `id`'s group, or `None` for an unknown id.
    pub fn template(&self, id: TemplateId) -> Option<String> {
        (usize::try_from(id).ok()? < self.clusters.len()).then(|| self.render(self.group(id)))
    }

    /// How many lines joined `id`'s group.
    pub fn count(&self, id: TemplateId) -> u64 {
        let root = self.group(id);
        self.clusters
            .iter()
            .enumerate()
            .filter(|(i, _)| self.group(*i as TemplateId) == root)
            .map(|(_, c)| c.count)
            .sum()
    }

    /// Number of distinct template groups learned.
    pub fn len(&self) -> usize {
        self.clusters
            .iter()
            .enumerate()
            .filter(|(i, c)| c.parent == *i as TemplateId)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// All template groups, most frequent first.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        let mut counts: HashMap<TemplateId, u64> = HashMap::new();
        for (i, c) in self.clusters.iter().enumerate() {
            *counts.entry(self.group(i as TemplateId)).or_default() += c.count;
        }
        let mut out: Vec<TemplateInfo> = counts
            .into_iter()
            .map(|(id, count)| TemplateInfo {
                id,
                template: self.render(id),
                count,
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
        out
    }

    /// [`TemplateMiner::shape`] without learning: `None` for a shape never seen.
    fn shape_of(&self, text: &str) -> Option<u32> {
        if !worded(text) {
            return Some(WILD);
        }
        let mut skeleton = String::with_capacity(text.len());
        skeleton_into(text, &mut skeleton);
        self.words.get(&skeleton)
    }

    /// Whether a token id is a parameter's shape (words never hold a digit; shapes do).
    fn is_shape(&self, id: TemplateId) -> bool {
        id != WILD && self.words.text(id).bytes().any(|b| b.is_ascii_digit())
    }

    /// A template's tokens: its tree template's, with its own words where the tree template
    /// generalised a position its variants still keep apart.
    fn tokens_of(&self, id: TemplateId) -> Vec<u32> {
        let node = &self.clusters[id as usize];
        let tree = &self.clusters[node.of as usize].tokens;
        tree.iter()
            .zip(node.key.iter().chain(std::iter::repeat(&WILD)))
            .map(|(t, k)| if *t == WILD { *k } else { *t })
            .collect()
    }

    fn render(&self, id: TemplateId) -> String {
        let tokens = self.tokens_of(id);
        let mut s = String::new();
        for (i, t) in tokens.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            if self.is_shape(*t) {
                s.push_str(&self.words.text(*t).replace('0', WILDCARD));
            } else {
                s.push_str(self.words.text(*t));
            }
        }
        s
    }

    fn leaf(&self, ids: &[u32]) -> Option<&Node> {
        let mut node = self.by_length.get(&ids.len())?;
        for t in ids.iter().take(self.config.prefix_tokens) {
            node = match node.children.get(t) {
                Some(n) => n,
                None => node.children.get(&WILD)?,
            };
        }
        Some(node)
    }

    /// The most similar template in a leaf and its similarity; ties go to more parameters.
    ///
    /// Similarity is the share of equal tokens among positions where the line or the template
    /// has a constant: positions masked on both sides say nothing about the match.
    fn best_in(&self, leaf: &Node, ids: &[u32]) -> Option<(TemplateId, f64)> {
        let mut best: Option<(TemplateId, f64, usize)> = None;
        for &cid in &leaf.clusters {
            let tokens = &self.clusters[cid as usize].tokens;
            let mut same = 0usize;
            let mut params = 0usize;
            let mut both_wild = 0usize;
            for (t, i) in tokens.iter().zip(ids) {
                if *t == WILD && *i == WILD {
                    both_wild += 1;
                } else if t == i {
                    same += 1;
                } else if *t == WILD {
                    params += 1;
                }
            }
            let considered = ids.len() - both_wild;
            let sim = if considered == 0 {
                1.0
            } else {
                same as f64 / considered as f64
            };
            let better = match best {
                None => true,
                Some((_, s, p)) => sim > s || (sim == s && params > p),
            };
            if better {
                best = Some((cid, sim, params));
            }
        }
        best.map(|(c, s, _)| (c, s))
    }

    /// Learns a line: its tree template, then its variant by words; returns the variant.
    fn learn(&mut self, ids: &[u32], shapes: &[u32]) -> TemplateId {
        let tree = self.learn_tree(ids);
        let variant = self.variant(tree, shapes);
        self.clusters[variant as usize].count += 1;
        variant
    }

    /// The variant of tree template `tree` a line belongs to, made if new; a position whose
    /// variants now show more than `max_variant_values` values becomes a parameter and the
    /// variants it kept apart join.
    fn variant(&mut self, tree: TemplateId, ids: &[u32]) -> TemplateId {
        let limit = self.config.max_variant_values;
        let Some(v) = self.variants.get_mut(&tree) else {
            return tree;
        };
        if v.parameter.len() < ids.len() {
            v.parameter.resize(ids.len(), limit == 0);
        }
        let mut key = std::mem::take(&mut self.scratch_key);
        key.clear();
        key.extend(
            ids.iter()
                .zip(&v.parameter)
                .map(|(i, p)| if *p { WILD } else { *i }),
        );
        if let Some(&id) = v.by_key.get(key.as_slice()) {
            self.scratch_key = key;
            return id;
        }
        // The tree template is its own first variant.
        let id = if v.by_key.is_empty() {
            self.clusters[tree as usize].key.clone_from(&key);
            tree
        } else {
            let id = self.clusters.len() as TemplateId;
            self.clusters.push(Cluster {
                tokens: Vec::new(),
                count: 0,
                parent: id,
                of: tree,
                key: key.clone(),
            });
            id
        };
        v.by_key.insert(key.clone(), id);
        self.scratch_key = key;
        // Positions the variants now take too many values at are parameters.
        let mut newly = Vec::new();
        for p in 0..ids.len() {
            if v.parameter[p] {
                continue;
            }
            let mut values: Vec<u32> = Vec::with_capacity(limit + 1);
            for k in v.by_key.keys() {
                if !values.contains(&k[p]) {
                    values.push(k[p]);
                    if values.len() > limit.max(2) {
                        break;
                    }
                }
            }
            // Numbers and words at one position: a parameter whatever its count.
            let mixed = values.len() > 1 && values.contains(&WILD);
            if values.len() > limit || mixed {
                v.parameter[p] = true;
                newly.push(p);
            }
        }
        if newly.is_empty() {
            return id;
        }
        let old = std::mem::take(&mut v.by_key);
        let parameter = v.parameter.clone();
        let mut joins = Vec::new();
        let mut by_key: FastMap<Vec<u32>, TemplateId> = FastMap::default();
        for (k, member) in old {
            let k = key_of(&k, &parameter);
            self.clusters[member as usize].key.clone_from(&k);
            match by_key.get(&k) {
                Some(&other) => joins.push((other, member)),
                None => {
                    by_key.insert(k, member);
                }
            }
        }
        if let Some(v) = self.variants.get_mut(&tree) {
            v.by_key = by_key;
        }
        for (a, b) in joins {
            self.union(a, b);
        }
        id
    }

    /// Joins the groups of `a` and `b`; the older id stays the group's.
    fn union(&mut self, a: TemplateId, b: TemplateId) {
        let (ra, rb) = (self.group(a), self.group(b));
        if ra != rb {
            let (keep, join) = (ra.min(rb), ra.max(rb));
            self.clusters[join as usize].parent = keep;
        }
    }

    /// The tree template a line joins (its positions that differ become `<*>`), or a new one.
    fn learn_tree(&mut self, ids: &[u32]) -> TemplateId {
        let found = self
            .leaf(ids)
            .and_then(|leaf| self.best_in(leaf, ids))
            .filter(|(_, sim)| *sim >= self.config.similarity);
        if let Some((cid, _)) = found {
            let cluster = &mut self.clusters[cid as usize];
            let mut changed = false;
            for (t, i) in cluster.tokens.iter_mut().zip(ids) {
                if *t != *i {
                    *t = WILD;
                    changed = true;
                }
            }
            if changed {
                self.join_same_constants(cid);
            }
            return cid;
        }
        let cid = self.clusters.len() as TemplateId;
        self.clusters.push(Cluster {
            tokens: ids.to_vec(),
            count: 0,
            parent: cid,
            of: cid,
            key: ids.to_vec(),
        });
        let mut first = Variants::default();
        first
            .parameter
            .resize(ids.len(), self.config.max_variant_values == 0);
        self.variants.insert(cid, first);
        let max_children = self.config.max_children;
        let mut node = self.by_length.entry(ids.len()).or_default();
        for &t in ids.iter().take(self.config.prefix_tokens) {
            let key = if t == WILD
                || node.children.contains_key(&t)
                || node.children.len() + 1 < max_children
            {
                t
            } else {
                WILD
            };
            node = node.children.entry(key).or_default();
        }
        node.clusters.push(cid);
        self.join_same_constants(cid);
        cid
    }

    /// Joins `cid` to an older template with the same constant words in the same order.
    fn join_same_constants(&mut self, cid: TemplateId) {
        if !self.config.merge_same_constants {
            return;
        }
        let key: Vec<u32> = self.clusters[cid as usize]
            .tokens
            .iter()
            .copied()
            .filter(|t| *t != WILD)
            .collect();
        if key.len() < 2 {
            return;
        }
        match self.by_constants.get(&key) {
            Some(&other) => {
                let other_tree = self.clusters[other as usize].of;
                if other_tree != cid {
                    // One template: every variant of both joins one group.
                    let members: Vec<TemplateId> = [cid, other_tree]
                        .iter()
                        .filter_map(|t| self.variants.get(t))
                        .flat_map(|v| v.by_key.values().copied())
                        .collect();
                    for m in members {
                        self.union(other_tree, m);
                    }
                    self.union(other_tree, cid);
                }
            }
            None => {
                self.by_constants.insert(key, cid);
            }
        }
    }
}

/// Whether a parameter token is mostly a word with a number in it (at least three letters,
/// not all of them hex digits, at most a quarter digits, not a path): `SOCKS5`,
/// `LOGIN(uid=0)`; not `blk_-1608`, `12ms`, `/dev/vcs1`, `Jun`.
fn worded(text: &str) -> bool {
    let (mut letters, mut digits, mut non_hex) = (0usize, 0usize, false);
    for b in text.bytes() {
        if b.is_ascii_alphabetic() {
            letters += 1;
            non_hex |= !b.is_ascii_hexdigit();
        } else if b.is_ascii_digit() {
            digits += 1;
        } else if b == b'/' {
            return false;
        }
    }
    non_hex && letters >= 3 && digits > 0 && digits * 4 <= text.len()
}

/// A parameter token's shape: every number (digits with a sign before them and `.`, `,` or
/// `:` between them) written as one `0`, with the one or two letters of a code beside it
/// (`[Thunderbird_A8]` → `[Thunderbird_0]`, `x86_64` → `0_0`; `SOCKS5` stays `SOCKS0`).
fn skeleton_into(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let signed = matches!(b, b'-' | b'+') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_digit() || signed {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || (matches!(bytes[i], b'.' | b',' | b':')
                        && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
            {
                i += 1;
            }
            // One or two letters before the number are part of one code with it (`A8`, `x86`).
            let code = out
                .bytes()
                .rev()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            if code <= 2 {
                out.truncate(out.len() - code);
            }
            if !out.ends_with('0') {
                out.push('0');
            }
            continue;
        }
        if b.is_ascii_alphabetic() {
            let run = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            // ... and so are one or two after it (`8A`, `2nd`).
            if !(run <= 2 && out.ends_with('0')) {
                out.push_str(&text[i..i + run]);
            }
            i += run;
            continue;
        }
        // Copy one character (ASCII here; a multi-byte one whole).
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
}

/// A line's words with `WILD` at the positions that are parameters.
fn key_of(ids: &[u32], parameter: &[bool]) -> Vec<u32> {
    ids.iter()
        .zip(parameter.iter().chain(std::iter::repeat(&false)))
        .map(|(i, p)| if *p { WILD } else { *i })
        .collect()
}

/// Units that belong to the number before them (`12 ms`, `(1.2 KB)`, `<1 sec`).
fn is_unit(word: &str) -> bool {
    const UNITS: [&str; 22] = [
        "ms", "s", "sec", "secs", "seconds", "min", "mins", "minutes", "h", "hours", "B", "KB",
        "MB", "GB", "TB", "KiB", "MiB", "GiB", "kB", "bytes", "%", "us",
    ];
    let core = word.trim_end_matches([')', ',', '.', ';', ']']);
    UNITS.contains(&core)
}

/// Position of the `=` in `key=value` where `key` starts with a letter and is made of
/// letters, digits, `_`, `-` and `.`, and `value` is not empty.
fn key_value_split(word: &str) -> Option<usize> {
    let bytes = word.as_bytes();
    let eq = bytes.iter().position(|b| *b == b'=')?;
    (eq > 0
        && bytes[0].is_ascii_alphabetic()
        && eq + 1 < bytes.len()
        && bytes[..eq]
            .iter()
            .all(|b| CLASS[usize::from(*b)] & KEY != 0))
    .then_some(eq)
}

/// Byte classes of the lexer: the ASCII white space `split_ascii_whitespace` splits on,
/// digits, and the bytes a `key=` may be made of.
const WS: u8 = 1;
const DIGIT: u8 = 2;
const KEY: u8 = 4;
const EQ: u8 = 8;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut class = 0;
        if matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r') {
            class |= WS;
        }
        if b.is_ascii_digit() {
            class |= DIGIT;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            class |= KEY;
        }
        if b == b'=' {
            class |= EQ;
        }
        table[i] = class;
        i += 1;
    }
    table
};

/// Splits on ASCII white space into `(start, end, is_parameter)` spans in one pass over the
/// bytes; `key=value` splits after the `=` (see [`crate::mask::is_parameter`] for which tokens
/// are parameters), and a unit after a parameter is absorbed into it.
fn lex(content: &str, out: &mut Vec<(usize, usize, bool)>) {
    out.clear();
    let bytes = content.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        if CLASS[usize::from(bytes[i])] & WS != 0 {
            i += 1;
            continue;
        }
        let start = i;
        // The union of the token's byte classes: whether it holds a digit or a `=`.
        let mut seen = 0u8;
        while i < n {
            let class = CLASS[usize::from(bytes[i])];
            if class & WS != 0 {
                break;
            }
            seen |= class;
            i += 1;
        }
        let digit = seen & DIGIT != 0;
        let end = i;
        // Token bounds are ASCII white space or the ends, hence character boundaries.
        let Some(word) = content.get(start..end) else {
            continue;
        };
        if let Some(last) = out.last_mut()
            && last.2
            && is_unit(word)
        {
            last.1 = end;
            continue;
        }
        if seen & EQ != 0
            && let Some(eq) = key_value_split(word)
        {
            let value = word.get(eq + 1..).unwrap_or_default();
            let value_digit = value.bytes().any(|b| b.is_ascii_digit());
            out.push((start, start + eq + 1, false));
            out.push((
                start + eq + 1,
                end,
                value_digit || is_digitless_parameter(value),
            ));
            continue;
        }
        out.push((start, end, digit || is_digitless_parameter(word)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers_and_merges_variable_words() {
        let mut m = TemplateMiner::default();
        let a = m.parse("Connected to 10.0.0.1 port 5432 as alice");
        let b = m.parse("Connected to 10.0.0.2 port 5433 as bob");
        // Two names may be two events (`client SPP.`, `client WindowsUpdateAgent.`) ...
        assert_ne!(a.template_id, b.template_id);
        assert_eq!(b.template, "Connected to <*> port <*> as bob");
        assert_eq!(b.parameters, vec!["10.0.0.2", "5433"]);
        // ... many are a parameter: the variants join, the older id standing for them.
        m.parse("Connected to 10.0.0.3 port 5434 as carol");
        let d = m.parse("Connected to 10.0.0.4 port 5435 as dave");
        assert_eq!(m.group(a.template_id), d.template_id);
        assert_eq!(m.group(b.template_id), d.template_id);
        assert_eq!(d.template, "Connected to <*> port <*> as <*>");
        assert_eq!(d.parameters, vec!["10.0.0.4", "5435", "dave"]);
        assert_eq!(m.count(a.template_id), 4);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_few_recurring_words_stay_apart() {
        let mut m = TemplateMiner::default();
        let mut ids = Vec::new();
        for i in 0..30 {
            let protocol = if i % 10 == 0 { "SOCKS5" } else { "HTTPS" };
            ids.push(m.add(&format!(
                "10.0.0.{i}:22 open through proxy p:5070 {protocol}"
            )));
        }
        assert_ne!(m.group(ids[0]), m.group(ids[1]));
        assert_eq!(m.group(ids[1]), m.group(ids[2]));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn a_code_beside_a_number_is_one_parameter() {
        // Four data sources named by letter and number are one event, whatever the limit.
        let mut m = TemplateMiner::new(MinerConfig {
            max_variant_values: 5,
            ..MinerConfig::default()
        });
        let ids: Vec<_> = ["A8", "B8", "C5", "D2", "A9"]
            .iter()
            .map(|s| {
                m.add(&format!(
                    "data_thread() got no answer from any [Thunderbird_{s}] datasource"
                ))
            })
            .collect();
        assert!(ids.iter().all(|id| m.group(*id) == m.group(ids[0])));
        assert_eq!(
            m.template(ids[0]).as_deref(),
            Some("data_thread() got no answer from any [Thunderbird_<*>] datasource")
        );
        let mut skeleton = String::new();
        for (text, shape) in [
            ("x86_64", "0_0"),
            ("SOCKS5", "SOCKS0"),
            ("eth0", "eth0"),
            ("8A8ms", "0"),
        ] {
            skeleton.clear();
            skeleton_into(text, &mut skeleton);
            assert_eq!(skeleton, shape, "{text}");
        }
    }

    #[test]
    fn novel_line_gets_new_template() {
        let mut m = TemplateMiner::default();
        let a = m.add("worker 1 started");
        let b = m.add("worker 2 started");
        let c = m.add("disk quota exceeded on volume");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m.template(c).as_deref(),
            Some("disk quota exceeded on volume")
        );
        assert_eq!(m.template(99), None);
    }

    #[test]
    fn different_lengths_never_merge() {
        let mut m = TemplateMiner::default();
        let a = m.add("user logged in");
        let b = m.add("user logged in again");
        assert_ne!(a, b);
    }

    #[test]
    fn match_line_does_not_learn() {
        let mut m = TemplateMiner::default();
        let id = m.add("job 7 done in 12ms");
        assert_eq!(m.match_line("job 8 done in 3ms"), Some(id));
        assert_eq!(m.match_line("something else entirely here"), None);
        assert_eq!(m.len(), 1);
        assert_eq!(m.count(id), 1);
    }

    #[test]
    fn units_join_their_number() {
        let t = TemplateMiner::tokenize("took 12 ms (1.5 KB) total");
        let texts: Vec<&str> = t.iter().map(|t| t.text).collect();
        assert_eq!(texts, vec!["took", "12 ms", "(1.5 KB)", "total"]);
        assert!(t[1].parameter && t[2].parameter && !t[3].parameter);
    }

    #[test]
    fn variable_length_parameters_join_one_group() {
        let mut m = TemplateMiner::default();
        let a = m.add("app close, 0 bytes sent, 0 bytes received, lifetime <1 sec");
        let b = m.add(
            "app close, 1190 bytes (1.16 KB) sent, 1671 bytes (1.63 KB) received, lifetime 00:02",
        );
        assert_eq!(m.group(a), m.group(b));
        assert_eq!(m.len(), 1);
        assert_eq!(m.count(a), 2);
    }

    /// The lexer written the plain way: split, then classify each word.
    fn lex_reference(content: &str) -> Vec<(usize, usize, bool)> {
        let mut out: Vec<(usize, usize, bool)> = Vec::new();
        let base = content.as_ptr() as usize;
        for word in content.split_ascii_whitespace() {
            let start = word.as_ptr() as usize - base;
            let end = start + word.len();
            if let Some(last) = out.last_mut()
                && last.2
                && is_unit(word)
            {
                last.1 = end;
                continue;
            }
            let kv = word.find('=').filter(|&eq| {
                let key = &word[..eq];
                key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && eq + 1 < word.len()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            });
            if let Some(eq) = kv {
                out.push((start, start + eq + 1, false));
                out.push((
                    start + eq + 1,
                    end,
                    crate::mask::is_parameter(&word[eq + 1..]),
                ));
                continue;
            }
            out.push((start, end, crate::mask::is_parameter(word)));
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn one_pass_lexer_matches_the_plain_one(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    " ", "  ", "\t", "\r\n", "\u{a0}", "=", "==", "a", "key", "x_1", "-", ".",
                    "7", "42", "ms", "KB)", "(1.5", "deadbeef", "cafebabe12", "Jan", "Mon", "é",
                    "<*>", "a=b", "=3", "k.v=", ":", "ff:ee:dd:cc:bb",
                ]),
                0..30,
            ),
        ) {
            let line: String = pieces.concat();
            let mut fast = Vec::new();
            lex(&line, &mut fast);
            proptest::prop_assert_eq!(fast, lex_reference(&line), "{:?}", line);
        }
    }
}
