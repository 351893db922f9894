//! Splitting a SQL dump into statements, as a stream.
//!
//! [`Splitter`] reads any [`BufRead`] and yields one [`Statement`] at a time with its number
//! and the line it starts on. It decides where a statement ends the way SQLite's own
//! `sqlite3_complete()` does (the function the `sqlite3` shell uses to run a file): a `;`
//! ends a statement unless it is inside a string (`'…'`), a quoted identifier (`"…"`,
//! `` `…` ``, `[…]`), a comment (`-- …` to the end of the line, `/* … */`), or the body of a
//! `CREATE TRIGGER … BEGIN … END` (where statements end with `;` until an `END;`).
//!
//! Memory is bounded by the largest statement, not the file: only the current statement is
//! held, and at most [`Splitter::keep`] bytes of it (a longer statement is still measured and
//! yielded, marked [`Statement::is_truncated`]). Comments and blank lines between statements
//! are dropped; a statement's text runs from its first token to its `;`.
//!
//! ```
//! use d1_dump::split::Splitter;
//!
//! let dump = "-- a dump\nCREATE TABLE t(x);\nINSERT INTO t VALUES('a;b');\n\
//!             CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  DELETE FROM t;\nEND;\n";
//! let statements: Vec<_> = Splitter::new(dump.as_bytes()).collect::<Result<_, _>>().unwrap();
//! assert_eq!(statements.len(), 3);
//! assert_eq!(statements[1].sql(), Ok("INSERT INTO t VALUES('a;b');"));
//! assert_eq!((statements[2].number, statements[2].line), (3, 4));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};

/// How much of one statement a [`Splitter`] holds by default: 64 MiB. D1 limits rows to
/// 2 MB, so the largest statement of a D1 dump (a row of hex-encoded blobs) is far below it.
pub const DEFAULT_KEEP: usize = 64 << 20;

/// One statement of a dump.
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its number in the file, from 1 (empty statements, a lone `;`, are not counted).
    pub number: u64,
    /// The line its first character is on, from 1.
    pub line: u64,
    /// The byte offset of its first character in the input.
    pub offset: u64,
    /// Its length in bytes, from its first character to its `;` (whether or not all of it
    /// was kept).
    pub len: u64,
    /// Whether it ended with a `;` (false only for the last statement of an input that ends
    /// without one, possibly inside a string or comment).
    pub terminated: bool,
    text: Vec<u8>,
}

impl Statement {
    /// A statement with this text (for tests and for callers that build statements).
    pub fn new(number: u64, line: u64, text: impl Into<Vec<u8>>) -> Self {
        let text = text.into();
        Self {
            number,
            line,
            offset: 0,
            len: text.len() as u64,
            terminated: text.ends_with(b";"),
            text,
        }
    }

    /// The statement's bytes as kept (all of them unless [`is_truncated`](Self::is_truncated)).
    pub fn bytes(&self) -> &[u8] {
        &self.text
    }

    /// The statement's text, if it is valid UTF-8.
    pub fn sql(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.text)
    }

    /// The statement's text, invalid UTF-8 replaced by U+FFFD.
    pub fn text_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.text)
    }

    /// Whether only a prefix of the statement was kept (it is longer than the splitter's
    /// [`keep`](Splitter::keep)).
    pub fn is_truncated(&self) -> bool {
        (self.text.len() as u64) < self.len
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.text
    }

    /// A one-line excerpt of at most `max_chars` characters for messages: whitespace runs
    /// become one space, control characters are escaped, and a cut is marked with `…`.
    pub fn excerpt(&self, max_chars: usize) -> String {
        excerpt(&self.text_lossy(), max_chars)
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("number", &self.number)
            .field("line", &self.line)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("terminated", &self.terminated)
            .field("text", &self.excerpt(80))
            .finish()
    }
}

/// A one-line, escaped excerpt of `text` (see [`Statement::excerpt`]).
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = false;
    for c in text.chars() {
        if count >= max_chars {
            out.push('…');
            return out;
        }
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                count += 1;
            }
            last_space = true;
            continue;
        }
        last_space = false;
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        count += 1;
    }
    out
}

/// The lexical state: where in a token the splitter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Between tokens.
    Code,
    /// Inside a word (keyword, identifier or number).
    Word,
    /// Inside a quoted string or identifier closed by this byte.
    Quoted(u8),
    /// After a `-` that may start a `--` comment (the `-` is not yet stored).
    Dash,
    /// Inside a `--` comment.
    LineComment,
    /// After a `/` that may start a `/*` comment (the `/` is not yet stored).
    Slash,
    /// Inside a `/* */` comment.
    Block,
    /// Inside a `/* */` comment, after a `*`.
    BlockStar,
}

/// A token class of `sqlite3_complete()`.
#[derive(Debug, Clone, Copy)]
enum Token {
    Semi = 0,
    Other = 1,
    Explain = 2,
    Create = 3,
    Temp = 4,
    Trigger = 5,
    End = 6,
}

/// `sqlite3_complete()`'s states.
const START: u8 = 1;
const NORMAL: u8 = 2;

/// `sqlite3_complete()`'s transitions (whitespace and comments change nothing, so they are
/// left out): `TRANS[state][token]`. States: 0 invalid, 1 start, 2 normal, 3 explain,
/// 4 create, 5 trigger, 6 semi (in a trigger), 7 end (in a trigger).
const TRANS: [[u8; 7]; 8] = [
    //  SEMI OTHER EXPLAIN CREATE TEMP TRIGGER END
    [1, 2, 3, 4, 2, 2, 2], // 0 invalid
    [1, 2, 3, 4, 2, 2, 2], // 1 start
    [1, 2, 2, 2, 2, 2, 2], // 2 normal
    [1, 3, 2, 4, 2, 2, 2], // 3 explain
    [1, 2, 2, 2, 4, 5, 2], // 4 create
    [6, 5, 5, 5, 5, 5, 5], // 5 trigger
    [6, 5, 5, 5, 5, 5, 7], // 6 semi
    [1, 5, 5, 5, 5, 5, 5], // 7 end
];

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The bytes that end a run of ordinary code in the normal state.
fn is_special(b: u8) -> bool {
    matches!(b, b';' | b'\'' | b'"' | b'`' | b'[' | b'-' | b'/')
}

/// Splits a dump into statements, reading it as a stream (see the [module](self) docs).
#[derive(Debug)]
pub struct Splitter<R> {
    reader: R,
    lexer: Lexer,
    done: bool,
}

/// The splitter's state, apart from its reader.
#[derive(Debug)]
struct Lexer {
    keep: usize,
    lex: Lex,
    /// `sqlite3_complete()`'s state.
    state: u8,
    /// The word being read (lower-case, at most 9 bytes; longer words are never keywords).
    word: [u8; 9],
    word_len: usize,
    /// The current statement, once its first token is seen.
    current: Option<Statement>,
    /// Bytes consumed so far, and the current line.
    pos: u64,
    line: u64,
    /// Where a pending `-` or `/` was (it may start a comment or be a token).
    pending_at: (u64, u64),
    numbered: u64,
}

impl<R: BufRead> Splitter<R> {
    /// A splitter over `reader`, keeping up to [`DEFAULT_KEEP`] bytes of each statement.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            lexer: Lexer::new(),
            done: false,
        }
    }

    /// Keeps at most `keep` bytes of each statement (the rest is measured, not held).
    pub fn keep(mut self, keep: usize) -> Self {
        self.lexer.keep = keep;
        self
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.lexer.pos
    }

    /// Statements yielded so far.
    pub fn statements_read(&self) -> u64 {
        self.lexer.numbered
    }

    /// The reader, given back.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl Lexer {
    fn new() -> Self {
        Self {
            keep: DEFAULT_KEEP,
            lex: Lex::Code,
            state: 0,
            word: [0; 9],
            word_len: 0,
            current: None,
            pos: 0,
            line: 1,
            pending_at: (0, 1),
            numbered: 0,
        }
    }

    fn start_at(&mut self, offset: u64, line: u64) {
        if self.current.is_none() {
            self.numbered += 1;
            self.current = Some(Statement {
                number: self.numbered,
                line,
                offset,
                len: 0,
                terminated: false,
                text: Vec::new(),
            });
        }
    }

    /// Stores bytes of the current statement (if one has started).
    fn push(&mut self, bytes: &[u8]) {
        if let Some(s) = &mut self.current {
            s.len += bytes.len() as u64;
            let room = self.keep.saturating_sub(s.text.len());
            s.text.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn token(&mut self, token: Token) {
        self.state = TRANS[usize::from(self.state)][token as usize];
    }

    fn end_word(&mut self) {
        let token = match &self.word[..self.word_len] {
            b"create" => Token::Create,
            b"temp" | b"temporary" => Token::Temp,
            b"trigger" => Token::Trigger,
            b"explain" => Token::Explain,
            b"end" => Token::End,
            _ => Token::Other,
        };
        self.token(token);
        self.lex = Lex::Code;
    }

    /// A pending `-` or `/` turned out to be a token of its own.
    fn pending_is_token(&mut self, byte: u8) {
        let (offset, line) = self.pending_at;
        self.start_at(offset, line);
        self.push(&[byte]);
        self.token(Token::Other);
        self.lex = Lex::Code;
    }

    /// Consumes bytes from `buf`; returns how many, and a finished statement if one ended.
    fn consume(&mut self, buf: &[u8]) -> (usize, Option<Statement>) {
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            match self.lex {
                Lex::Code => {
                    if self.state == NORMAL && self.current.is_some() {
                        // Fast path: nothing but the special bytes matters here.
                        let run = buf[i..].iter().position(|&c| is_special(c));
                        let end = run.map_or(buf.len(), |r| i + r);
                        if end > i {
                            self.advance(&buf[i..end]);
                            i = end;
                            continue;
                        }
                    }
                    match b {
                        b';' => {
                            i += 1;
                            self.pos += 1;
                            if self.current.is_none() {
                                // An empty statement.
                                self.state = START;
                                continue;
                            }
                            self.push(b";");
                            self.token(Token::Semi);
                            if self.state == START {
                                let mut s = self.current.take().expect("started");
                                s.terminated = true;
                                return (i, Some(s));
                            }
                            continue;
                        }
                        b'\'' | b'"' | b'`' | b'[' => {
                            self.start_at(self.pos, self.line);
                            self.token(Token::Other);
                            self.lex = Lex::Quoted(if b == b'[' { b']' } else { b });
                        }
                        b'-' | b'/' => {
                            self.pending_at = (self.pos, self.line);
                            self.lex = if b == b'-' { Lex::Dash } else { Lex::Slash };
                            i += 1;
                            self.pos += 1;
                            continue;
                        }
                        b if b.is_ascii_whitespace() => {
                            if self.current.is_none() {
                                i += 1;
                                self.pos += 1;
                                self.line += u64::from(b == b'\n');
                                continue;
                            }
                        }
                        b if is_ident(b) => {
                            self.start_at(self.pos, self.line);
                            self.lex = Lex::Word;
                            self.word_len = 0;
                            continue;
                        }
                        _ => {
                            self.start_at(self.pos, self.line);
                            self.token(Token::Other);
                        }
                    }
                    self.advance(&buf[i..=i]);
                    i += 1;
                }
                Lex::Word => {
                    let run = buf[i..].iter().position(|&c| !is_ident(c));
                    let end = run.map_or(buf.len(), |r| i + r);
                    for &c in &buf[i..end] {
                        if self.word_len < self.word.len() {
                            self.word[self.word_len] = c.to_ascii_lowercase();
                            self.word_len += 1;
                        } else {
                            // Too long for a keyword: make it match none.
                            self.word[0] = b'!';
                        }
                    }
                    self.advance(&buf[i..end]);
                    i = end;
                    if run.is_some() {
                        self.end_word();
                    }
                }
                Lex::Quoted(close) => {
                    let run = buf[i..].iter().position(|&c| c == close);
                    let end = run.map_or(buf.len(), |r| i + r + 1);
                    self.advance(&buf[i..end]);
                    i = end;
                    if run.is_some() {
                        self.lex = Lex::Code;
                    }
                }
                Lex::Dash | Lex::Slash => {
                    let (first, second, comment) = if self.lex == Lex::Dash {
                        (b'-', b'-', Lex::LineComment)
                    } else {
                        (b'/', b'*', Lex::Block)
                    };
                    if b == second {
                        self.push(&[first, second]);
                        self.lex = comment;
                        i += 1;
                        self.pos += 1;
                    } else {
                        self.pending_is_token(first);
                    }
                }
                Lex::LineComment => {
                    let run = buf[i..].iter().position(|&c| c == b'\n');
                    let end = run.map_or(buf.len(), |r| i + r + 1);
                    self.advance(&buf[i..end]);
                    i = end;
                    if run.is_some() {
                        self.lex = Lex::Code;
                    }
                }
                Lex::Block | Lex::BlockStar => {
                    let end = if self.lex == Lex::BlockStar {
                        if b == b'/' {
                            self.lex = Lex::Code;
                        } else if b != b'*' {
                            self.lex = Lex::Block;
                        }
                        i + 1
                    } else {
                        match buf[i..].iter().position(|&c| c == b'*') {
                            Some(r) => {
                                self.lex = Lex::BlockStar;
                                i + r + 1
                            }
                            None => buf.len(),
                        }
                    };
                    self.advance(&buf[i..end]);
                    i = end;
                }
            }
        }
        (i, None)
    }

    /// Bytes passed over: stored (if a statement has started), counted, lines counted.
    fn advance(&mut self, bytes: &[u8]) {
        self.push(bytes);
        self.pos += bytes.len() as u64;
        self.line += bytes.iter().filter(|&&c| c == b'\n').count() as u64;
    }

    /// The end of the input: a statement without its `;`, if one had started.
    fn finish(&mut self) -> Option<Statement> {
        match self.lex {
            Lex::Word => self.end_word(),
            Lex::Dash => self.pending_is_token(b'-'),
            Lex::Slash => self.pending_is_token(b'/'),
            _ => {}
        }
        let mut s = self.current.take()?;
        if !s.is_truncated() {
            let trimmed = s.text.trim_ascii_end().len();
            s.len -= (s.text.len() - trimmed) as u64;
            s.text.truncate(trimmed);
        }
        Some(s)
    }
}

impl<R: BufRead> Iterator for Splitter<R> {
    type Item = io::Result<Statement>;

    fn next(&mut self) -> Option<io::Result<Statement>> {
        if self.done {
            return None;
        }
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if buf.is_empty() {
                self.done = true;
                return self.lexer.finish().map(Ok);
            }
            let (used, statement) = self.lexer.consume(buf);
            self.reader.consume(used);
            if let Some(s) = statement {
                return Some(Ok(s));
            }
        }
    }
}
