//! A small backtracking matcher for the regular-expression subset log header formats use, so
//! splitting a header costs a few steps per header byte instead of a general regex search.
//!
//! It runs the same leftmost-first priorities as the `regex` crate (fields lazy, `\s+` and
//! quantifiers greedy, `(…)?` tries the group first), so the split is identical. A format using
//! syntax outside the subset does not compile here, and a line whose search exceeds its step
//! budget is [`Outcome::Undecided`]: [`crate::format::LogFormat`] then asks the full regex.

/// One character class.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    /// `.`: any character but `\n`.
    Any,
    /// `\s`: Unicode white space.
    Space,
    /// `\w`: ASCII letters, digits and `_` (non-ASCII input defers to the full regex).
    Word,
    /// `\d`: ASCII digits (non-ASCII input defers to the full regex).
    Digit,
    /// `[…]`: any of the items.
    Set(Box<[SetItem]>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SetItem {
    Char(char),
    Range(char, char),
    Class(Class),
}

impl Class {
    /// Whether `c` is in the class; `None` when the answer needs Unicode tables.
    #[inline]
    fn matches(&self, c: char) -> Option<bool> {
        match self {
            Class::Any => Some(c != '\n'),
            Class::Space => Some(c.is_whitespace()),
            Class::Word => c.is_ascii().then(|| c.is_ascii_alphanumeric() || c == '_'),
            Class::Digit => c.is_ascii().then(|| c.is_ascii_digit()),
            Class::Set(items) => {
                for item in items.iter() {
                    let hit = match item {
                        SetItem::Char(x) => *x == c,
                        SetItem::Range(a, b) => (*a..=*b).contains(&c),
                        SetItem::Class(class) => class.matches(c)?,
                    };
                    if hit {
                        return Some(true);
                    }
                }
                Some(false)
            }
        }
    }
}

/// Parsed pattern.
#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Class(Class),
    /// A `<Field>`: lazy `.*?` saved in capture slot pair `2k, 2k+1`.
    Field(usize),
    Group(Vec<Node>),
    Repeat {
        node: Box<Node>,
        /// `+` (at least one) rather than `*` / `?`.
        at_least_one: bool,
        /// `*` / `+` rather than `?`.
        many: bool,
    },
}

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Class(Class),
    /// Greedy `class*`: the longest run first, then each shorter one.
    Star(Class),
    /// Try the first target, then the second.
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    /// A lazy field ending the pattern: takes the rest of the line if it holds no `\n`.
    Rest,
    /// A lazy field's end: the first position from here (the field never spans `\n`) where the
    /// rest of the pattern may match, leaving a frame to try the following ones.
    Lazy(Box<Stops>),
    End,
}

/// Where a lazy field may end: the bytes the rest of the pattern may start with there, and
/// whether it may match at the end of the line (a necessary condition, never a sufficient one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hint {
    bytes: [u64; 4],
    end: bool,
}

impl Hint {
    const NONE: Hint = Hint {
        bytes: [0; 4],
        end: false,
    };
    const ANY: Hint = Hint {
        bytes: [u64::MAX; 4],
        end: true,
    };

    fn with(mut self, b: u8) -> Self {
        self.bytes[usize::from(b >> 6)] |= 1 << (b & 63);
        self
    }

    fn union(self, other: Hint) -> Self {
        let mut bytes = self.bytes;
        for (x, y) in bytes.iter_mut().zip(other.bytes) {
            *x |= y;
        }
        Hint {
            bytes,
            end: self.end || other.end,
        }
    }

    #[inline]
    fn has(&self, b: u8) -> bool {
        self.bytes[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    /// Every byte that can start a non-ASCII character.
    fn non_ascii(self) -> Self {
        (0xC0..=0xFF).fold(self, Hint::with)
    }

    /// The bytes that can start a `\s` character.
    fn space() -> Self {
        b" \t\n\x0b\x0c\r"
            .iter()
            .fold(Hint::NONE, |h, b| h.with(*b))
            .non_ascii()
    }

    /// The first bytes the program may consume from `pc` on.
    fn first(insts: &[Inst], pc: usize, depth: usize) -> Hint {
        if depth > 64 {
            return Hint::ANY;
        }
        match insts.get(pc) {
            None | Some(Inst::Rest | Inst::Lazy(_)) => Hint::ANY,
            Some(Inst::Char(c)) if c.is_ascii() => Hint::NONE.with(*c as u8),
            Some(Inst::Char(_)) => Hint::NONE.non_ascii(),
            Some(Inst::Class(Class::Space)) => Hint::space(),
            Some(Inst::Star(Class::Space)) => {
                Hint::first(insts, pc + 1, depth + 1).union(Hint::space())
            }
            Some(Inst::Class(_) | Inst::Star(_)) => Hint::ANY,
            Some(Inst::Save(_)) => Hint::first(insts, pc + 1, depth + 1),
            Some(Inst::Jmp(a)) => Hint::first(insts, *a, depth + 1),
            Some(Inst::Split(a, b)) => {
                Hint::first(insts, *a, depth + 1).union(Hint::first(insts, *b, depth + 1))
            }
            Some(Inst::End) => Hint {
                end: true,
                ..Hint::NONE
            },
        }
    }
}

const STOP_CONTINUE: u8 = 0;
const STOP_CANDIDATE: u8 = 1;
const STOP_NEWLINE: u8 = 2;

/// A [`Hint`] as a byte table for the scan: skip the byte, stop at it as a candidate end (a
/// character boundary the rest may start with), or give up at a `\n` the field cannot cross.
#[derive(Debug, Clone)]
struct Stops {
    table: [u8; 256],
    end: bool,
}

impl From<Hint> for Stops {
    fn from(hint: Hint) -> Self {
        let mut table = [STOP_CONTINUE; 256];
        for (b, stop) in (0..=255u8).zip(table.iter_mut()) {
            if hint.has(b) && !(0x80..0xC0).contains(&b) {
                *stop = STOP_CANDIDATE;
            } else if b == b'\n' {
                *stop = STOP_NEWLINE;
            }
        }
        Stops {
            table,
            end: hint.end,
        }
    }
}

/// A backtracking frame: a state to try, or a capture slot to restore.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Try(usize, usize),
    Restore(usize, Option<usize>),
}

thread_local! {
    /// The frame stack, reused across lines.
    static STACK: std::cell::Cell<Vec<Frame>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A compiled header format.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    insts: Vec<Inst>,
    slots: usize,
}

/// Outcome of running a program on a line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Matched; capture slots are filled.
    Match,
    NoMatch,
    /// The line needs the full regex (step budget spent or a Unicode class question).
    Undecided,
}

impl Program {
    /// Compiles a format (`<Field>` placeholders, a run of spaces matching `\s+`, the rest a
    /// regular expression); `None` if it uses syntax outside the supported subset.
    pub(crate) fn compile(format: &str) -> Option<(Self, Vec<String>)> {
        let mut parser = Parser {
            chars: format.chars().collect(),
            pos: 0,
            fields: Vec::new(),
        };
        let nodes = parser.sequence()?;
        if parser.pos != parser.chars.len() {
            return None;
        }
        let mut insts = Vec::new();
        emit_sequence(&nodes, &mut insts, true);
        insts.push(Inst::End);
        // Where each lazy field may end depends on what follows it.
        for i in 0..insts.len() {
            if let Inst::Lazy(_) = insts[i] {
                insts[i] = Inst::Lazy(Box::new(Stops::from(Hint::first(&insts, i + 1, 0))));
            }
        }
        let slots = parser.fields.len() * 2;
        Some((Self { insts, slots }, parser.fields))
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.slots
    }

    /// Runs the program anchored on the whole of `text`, filling `slots` (`slot_count` long).
    pub(crate) fn run(&self, text: &str, slots: &mut [Option<usize>]) -> Outcome {
        // The first path in priority order is the answer whenever it matches, which it does
        // for almost every line: follow it without recording any way back first.
        let mut no_frames = Vec::new();
        match self.run_on(text, slots, &mut no_frames, false) {
            Outcome::NoMatch => {}
            decided => return decided,
        }
        STACK.with(|cell| {
            let mut stack = cell.take();
            let outcome = self.run_on(text, slots, &mut stack, true);
            cell.set(stack);
            outcome
        })
    }

    /// Runs the program; without `backtrack`, only the first path (`NoMatch` then means only
    /// that the first path failed).
    fn run_on(
        &self,
        text: &str,
        slots: &mut [Option<usize>],
        stack: &mut Vec<Frame>,
        backtrack: bool,
    ) -> Outcome {
        slots.fill(None);
        stack.clear();
        let bytes = text.as_bytes();
        // Most lines match on the first path; a line that needs long backtracking is left to
        // the regex crate, whose automata answer it in linear time.
        let budget = 4 * (text.len() + 16);
        let mut steps = 0usize;
        stack.push(Frame::Try(0, 0));
        while let Some(frame) = stack.pop() {
            let (mut pc, mut pos) = match frame {
                Frame::Restore(slot, old) => {
                    if let Some(s) = slots.get_mut(slot) {
                        *s = old;
                    }
                    continue;
                }
                Frame::Try(pc, pos) => (pc, pos),
            };
            loop {
                steps += 1;
                if steps > budget {
                    return Outcome::Undecided;
                }
                let Some(inst) = self.insts.get(pc) else {
                    return Outcome::Undecided;
                };
                match inst {
                    Inst::Char(c) => {
                        if c.is_ascii() {
                            if bytes.get(pos) != Some(&(*c as u8)) {
                                break;
                            }
                            pos += 1;
                        } else {
                            match text.get(pos..).and_then(|r| r.chars().next()) {
                                Some(x) if x == *c => pos += x.len_utf8(),
                                _ => break,
                            }
                        }
                        pc += 1;
                    }
                    Inst::Class(class) => {
                        let Some(c) = next_char(text, bytes, pos) else {
                            break;
                        };
                        match class.matches(c) {
                            Some(true) => {
                                pos += c.len_utf8();
                                pc += 1;
                            }
                            Some(false) => break,
                            None => return Outcome::Undecided,
                        }
                    }
                    Inst::Star(class) => {
                        while let Some(c) = next_char(text, bytes, pos) {
                            match class.matches(c) {
                                Some(true) => {
                                    if backtrack {
                                        stack.push(Frame::Try(pc + 1, pos));
                                    }
                                    pos += c.len_utf8();
                                }
                                Some(false) => break,
                                None => return Outcome::Undecided,
                            }
                        }
                        pc += 1;
                    }
                    Inst::Split(a, b) => {
                        // A first branch that fails on its first character is no branch: go
                        // straight to the second (this keeps greedy loops on the first path).
                        let dead = match self.insts.get(*a) {
                            Some(Inst::Char(c)) => next_char(text, bytes, pos) != Some(*c),
                            Some(Inst::Class(class)) => next_char(text, bytes, pos)
                                .is_none_or(|c| class.matches(c) == Some(false)),
                            _ => false,
                        };
                        if dead {
                            pc = *b;
                        } else {
                            if backtrack {
                                stack.push(Frame::Try(*b, pos));
                            }
                            pc = *a;
                        }
                    }
                    Inst::Jmp(a) => pc = *a,
                    Inst::Save(slot) => {
                        if let Some(s) = slots.get_mut(*slot) {
                            if backtrack {
                                stack.push(Frame::Restore(*slot, *s));
                            }
                            *s = Some(pos);
                        }
                        pc += 1;
                    }
                    Inst::Rest => {
                        if bytes.get(pos..).is_none_or(|rest| rest.contains(&b'\n')) {
                            break;
                        }
                        pos = bytes.len();
                        pc += 1;
                    }
                    Inst::Lazy(stops) => {
                        let Some(end) = lazy_end(bytes, pos, stops) else {
                            break;
                        };
                        if backtrack
                            && let Some(c) = next_char(text, bytes, end)
                            && c != '\n'
                        {
                            stack.push(Frame::Try(pc, end + c.len_utf8()));
                        }
                        pos = end;
                        pc += 1;
                    }
                    Inst::End => {
                        if pos == bytes.len() {
                            return Outcome::Match;
                        }
                        break;
                    }
                }
            }
        }
        Outcome::NoMatch
    }
}

/// The first position from `pos` a lazy field may end at: a character boundary before any
/// `\n` where the rest may match.
#[inline]
fn lazy_end(bytes: &[u8], pos: usize, stops: &Stops) -> Option<usize> {
    let rest = bytes.get(pos..)?;
    for (i, &b) in rest.iter().enumerate() {
        match stops.table[usize::from(b)] {
            STOP_CONTINUE => {}
            STOP_CANDIDATE => return Some(pos + i),
            _ => return None,
        }
    }
    stops.end.then_some(bytes.len())
}

#[inline]
fn next_char(text: &str, bytes: &[u8], pos: usize) -> Option<char> {
    match bytes.get(pos) {
        Some(b) if b.is_ascii() => Some(char::from(*b)),
        Some(_) => text.get(pos..).and_then(|r| r.chars().next()),
        None => None,
    }
}

/// Emits `nodes`; `last` says the sequence ends the whole pattern (a final field becomes
/// [`Inst::Rest`]).
fn emit_sequence(nodes: &[Node], insts: &mut Vec<Inst>, last: bool) {
    for (i, node) in nodes.iter().enumerate() {
        emit(node, insts, last && i + 1 == nodes.len());
    }
}

fn emit(node: &Node, insts: &mut Vec<Inst>, last: bool) {
    match node {
        Node::Char(c) => insts.push(Inst::Char(*c)),
        Node::Class(class) => insts.push(Inst::Class(class.clone())),
        Node::Field(k) => {
            insts.push(Inst::Save(2 * k));
            if last {
                insts.push(Inst::Rest);
            } else {
                insts.push(Inst::Lazy(Box::new(Stops::from(Hint::ANY))));
            }
            insts.push(Inst::Save(2 * k + 1));
        }
        Node::Group(nodes) => emit_sequence(nodes, insts, last),
        Node::Repeat {
            node,
            at_least_one,
            many,
        } => {
            if *at_least_one {
                emit(node, insts, false);
            }
            if let (true, Node::Class(class)) = (*many, node.as_ref()) {
                insts.push(Inst::Star(class.clone()));
                return;
            }
            // L: Split(body, exit); body; [Jmp L]; exit:
            let l = insts.len();
            insts.push(Inst::Split(l + 1, 0));
            emit(node, insts, false);
            if *many {
                insts.push(Inst::Jmp(l));
            }
            let exit = insts.len();
            insts[l] = Inst::Split(l + 1, exit);
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    fields: Vec<String>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Parses until the end or an unmatched `)`.
    fn sequence(&mut self) -> Option<Vec<Node>> {
        let mut nodes = Vec::new();
        while let Some(c) = self.peek() {
            let atom = match c {
                ')' => break,
                ' ' => {
                    while self.peek() == Some(' ') {
                        self.pos += 1;
                    }
                    nodes.push(Node::Repeat {
                        node: Box::new(Node::Class(Class::Space)),
                        at_least_one: true,
                        many: true,
                    });
                    continue;
                }
                '<' => match self.field() {
                    Some(field) => field,
                    None => {
                        self.pos += 1;
                        Node::Char('<')
                    }
                },
                '(' => {
                    self.pos += 1;
                    if self.peek() == Some('?') {
                        // Non-capturing `(?:…)` only.
                        if self.chars.get(self.pos + 1) != Some(&':') {
                            return None;
                        }
                        self.pos += 2;
                    }
                    let inner = self.sequence()?;
                    if self.peek() != Some(')') {
                        return None;
                    }
                    self.pos += 1;
                    Node::Group(inner)
                }
                '[' => Node::Class(self.set()?),
                '\\' => {
                    self.pos += 1;
                    let e = self.peek()?;
                    self.pos += 1;
                    escape(e)?
                }
                '.' => {
                    self.pos += 1;
                    Node::Class(Class::Any)
                }
                '*' | '+' | '?' | '|' | '{' | '}' | '^' | '$' | ']' => return None,
                c => {
                    self.pos += 1;
                    Node::Char(c)
                }
            };
            nodes.push(self.quantified(atom)?);
        }
        Some(nodes)
    }

    /// A `<Name>` field (the whole rest must hold a `>`, as the format compiler requires).
    fn field(&mut self) -> Option<Node> {
        let close = self.chars[self.pos..].iter().position(|c| *c == '>')?;
        let name: String = self.chars[self.pos + 1..self.pos + close].iter().collect();
        self.pos += close + 1;
        let k = self.fields.len();
        self.fields.push(name);
        Some(Node::Field(k))
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (at_least_one, many) = match self.peek() {
            Some('?') => (false, false),
            Some('*') => (false, true),
            Some('+') => (true, true),
            _ => return Some(atom),
        };
        self.pos += 1;
        // Lazy or possessive suffixes and stacked quantifiers are outside the subset.
        if matches!(self.peek(), Some('?' | '*' | '+' | '{')) {
            return None;
        }
        Some(Node::Repeat {
            node: Box::new(atom),
            at_least_one,
            many,
        })
    }

    /// A `[…]` set without negation.
    fn set(&mut self) -> Option<Class> {
        self.pos += 1;
        if matches!(self.peek(), Some('^' | ']')) {
            return None;
        }
        let mut items = Vec::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            let item = match c {
                ']' => break,
                // Nested sets, set operations, fields and spaces (which the format compiler
                // rewrites even inside a set) are outside the subset.
                '[' | '&' | '~' | '<' | ' ' => return None,
                '\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match escape(e)? {
                        Node::Char(x) => SetItem::Char(x),
                        Node::Class(class) => SetItem::Class(class),
                        _ => return None,
                    }
                }
                c => SetItem::Char(c),
            };
            if let SetItem::Char(lo) = item
                && self.peek() == Some('-')
                && self.chars.get(self.pos + 1).is_some_and(|n| *n != ']')
            {
                let hi = self.chars.get(self.pos + 1).copied()?;
                if hi == '\\' || hi == '[' || hi < lo {
                    return None;
                }
                self.pos += 2;
                items.push(SetItem::Range(lo, hi));
                continue;
            }
            items.push(item);
        }
        Some(Class::Set(items.into_boxed_slice()))
    }
}

/// The node for `\e`: an escaped punctuation character or a Perl class.
fn escape(e: char) -> Option<Node> {
    match e {
        's' => Some(Node::Class(Class::Space)),
        'w' => Some(Node::Class(Class::Word)),
        'd' => Some(Node::Class(Class::Digit)),
        '<' | '>' => None,
        c if c.is_ascii_punctuation() => Some(Node::Char(c)),
        _ => None,
    }
}
