//! A spaCy-like pipeline: one pool per document.
//!
//! Each document gets a `Pool`. Tokenising it copies every word into the
//! pool, appends a `TokenC` record to a token array that grows by doubling
//! with `realloc` (as spaCy's `Doc` does with cymem), attaches a morphology
//! record to some tokens and uses a scratch buffer per sentence that is
//! freed — and reused — at once. When the document is done, the pool drops
//! and everything goes in one step.
//!
//! The same work is then done with `Vec`/`String`/`Box` on the system
//! allocator, and both are timed.
//!
//! Run with `make demo` (or `cargo run --release --example owner`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use arenapool::{Handle, Pool, Stats, Zeroable};

/// A token record, as spaCy's `TokenC` (a plain C struct).
#[derive(Clone, Copy, Debug, Zeroable)]
#[repr(C)]
struct TokenC {
    /// Offset of the word in the document text.
    idx: u32,
    /// Length of the word in bytes.
    len: u32,
    /// Hash of the word (a stand-in for the lexeme id).
    lex: u64,
    /// Offset of the syntactic head, relative to this token.
    head: i32,
    /// Sentence number.
    sent: u32,
}

/// A morphology record some tokens carry.
#[derive(Clone, Copy, Debug, Zeroable)]
#[repr(C)]
struct MorphC {
    features: [u32; 6],
}

/// A document whose memory all lives in one pool.
struct Doc<'p> {
    pool: &'p Pool,
    words: Vec<&'p str>,
    tokens: Handle<'p, [TokenC]>,
    length: usize,
    morphs: Vec<&'p MorphC>,
    grown_in_place: usize,
    grown_by_copy: usize,
}

impl<'p> Doc<'p> {
    fn new(pool: &'p Pool) -> Self {
        Doc {
            pool,
            words: Vec::new(),
            tokens: pool.alloc_slice_zeroed(8),
            length: 0,
            morphs: Vec::new(),
            grown_in_place: 0,
            grown_by_copy: 0,
        }
    }

    fn push(&mut self, word: &str, idx: usize, sent: u32) {
        if self.length == self.tokens.len() {
            let before = Handle::as_ptr(&self.tokens) as *const u8;
            let doubled = self.tokens.len() * 2;
            self.pool.realloc(&mut self.tokens, doubled);
            if Handle::as_ptr(&self.tokens) as *const u8 == before {
                self.grown_in_place += 1;
            } else {
                self.grown_by_copy += 1;
            }
        }
        let text = self.pool.alloc_str(word).into_mut();
        let lex = hash(text.as_bytes());
        self.tokens[self.length] = TokenC {
            idx: idx as u32,
            len: word.len() as u32,
            lex,
            head: if lex % 3 == 0 { -1 } else { 1 },
            sent,
        };
        if lex % 4 == 0 {
            let morph = self.pool.alloc_zeroed::<MorphC>().into_mut();
            morph.features[(lex % 6) as usize] = lex as u32;
            self.morphs.push(morph);
        }
        self.words.push(text);
        self.length += 1;
    }

    /// Scratch work per sentence: a buffer that is freed at once.
    fn sentence_scratch(&self, start: usize) {
        let n = self.length - start;
        let mut scratch = self.pool.alloc(n, 8);
        for (i, token) in self.tokens[start..self.length].iter().enumerate() {
            scratch[i * 8..i * 8 + 8].copy_from_slice(&token.lex.to_le_bytes());
        }
        black_box(&scratch);
        self.pool.free(scratch);
    }
}

/// The same document with `Vec`, `String` and `Box`.
struct BoxedDoc {
    words: Vec<String>,
    tokens: Vec<TokenC>,
    /// Boxed on purpose: the pool version allocates each record on its own.
    #[allow(clippy::vec_box)]
    morphs: Vec<Box<MorphC>>,
}

impl BoxedDoc {
    fn push(&mut self, word: &str, idx: usize, sent: u32) {
        let text = word.to_owned();
        let lex = hash(text.as_bytes());
        self.tokens.push(TokenC {
            idx: idx as u32,
            len: word.len() as u32,
            lex,
            head: if lex % 3 == 0 { -1 } else { 1 },
            sent,
        });
        if lex % 4 == 0 {
            let mut morph = Box::new(MorphC::zeroed());
            morph.features[(lex % 6) as usize] = lex as u32;
            self.morphs.push(morph);
        }
        self.words.push(text);
    }

    fn sentence_scratch(&self, start: usize) {
        let mut scratch = vec![0u8; (self.tokens.len() - start) * 8];
        for (i, token) in self.tokens[start..].iter().enumerate() {
            scratch[i * 8..i * 8 + 8].copy_from_slice(&token.lex.to_le_bytes());
        }
        black_box(&scratch);
    }
}

fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Deterministic text: `n` words from a Zipf-ish vocabulary, with sentence ends.
fn make_text(seed: u64, n: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "a",
        "in",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "had",
        "they",
        "you",
        "were",
        "their",
        "one",
        "all",
        "we",
        "can",
        "her",
        "has",
        "there",
        "been",
        "if",
        "more",
        "when",
        "will",
        "would",
        "who",
        "so",
        "no",
        "tokenizer",
        "vocabulary",
        "morphology",
        "dependency",
        "lemmatization",
        "arena",
        "allocation",
    ];
    let mut state = seed | 1;
    let mut text = String::with_capacity(n * 6);
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let r = (state % 1000) as usize;
        let word = WORDS[(r * r / 1000 * WORDS.len() / 1000).min(WORDS.len() - 1)];
        text.push_str(word);
        text.push(if i % 17 == 16 { '.' } else { ' ' });
    }
    text
}

/// Splits `text` into words and sentences, calling `push` and `end_sentence`.
fn tokenize(text: &str, mut push: impl FnMut(&str, usize, u32), mut end_sentence: impl FnMut()) {
    let mut sent = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' || c == '.' {
            if i > start {
                push(&text[start..i], start, sent);
            }
            if c == '.' {
                end_sentence();
                sent += 1;
            }
            start = i + 1;
        }
    }
}

#[derive(Default)]
struct Totals {
    docs: usize,
    tokens: usize,
    allocations: usize,
    live_bytes: usize,
    reserved: usize,
    peak_reserved: usize,
    chunks: usize,
    in_place: usize,
    by_copy: usize,
    pool_time: Duration,
    boxed_time: Duration,
}

fn run_pool(text: &str, totals: &mut Totals) {
    let start = Instant::now();
    let pool = Pool::new();
    let stats: Stats;
    {
        let doc = std::cell::RefCell::new(Doc::new(&pool));
        let sentence_start = std::cell::Cell::new(0);
        tokenize(
            text,
            |w, idx, sent| doc.borrow_mut().push(w, idx, sent),
            || {
                let d = doc.borrow();
                d.sentence_scratch(sentence_start.get());
                sentence_start.set(d.length);
            },
        );
        let doc = doc.into_inner();
        black_box(doc.words.len() + doc.morphs.len());
        stats = pool.stats();
        totals.tokens += doc.length;
        totals.in_place += doc.grown_in_place;
        totals.by_copy += doc.grown_by_copy;
        // Every word, morphology record and the token array are live; the
        // scratch buffers were freed.
        totals.allocations += doc.length + doc.morphs.len() + 1;
        assert_eq!(stats.live_allocations, doc.length + doc.morphs.len() + 1);
    }
    drop(pool); // the document's memory, all at once
    totals.pool_time += start.elapsed();
    totals.docs += 1;
    totals.live_bytes += stats.live_bytes;
    totals.reserved += stats.reserved_bytes;
    totals.peak_reserved = totals.peak_reserved.max(stats.reserved_bytes);
    totals.chunks += stats.chunks;
}

fn run_boxed(text: &str, totals: &mut Totals) {
    let start = Instant::now();
    let doc = std::cell::RefCell::new(BoxedDoc {
        words: Vec::new(),
        tokens: Vec::with_capacity(8),
        morphs: Vec::new(),
    });
    let sentence_start = std::cell::Cell::new(0);
    tokenize(
        text,
        |w, idx, sent| doc.borrow_mut().push(w, idx, sent),
        || {
            let d = doc.borrow();
            d.sentence_scratch(sentence_start.get());
            sentence_start.set(d.tokens.len());
        },
    );
    let doc = doc.into_inner();
    black_box(doc.words.len() + doc.morphs.len());
    drop(doc); // one free per word, record and vector
    totals.boxed_time += start.elapsed();
}

fn main() {
    let docs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let texts: Vec<String> = (0..docs)
        .map(|i| make_text(i as u64 + 1, 200 + (i * 7919) % 1800))
        .collect();
    let mut totals = Totals::default();
    // Interleave the two so that both see the same machine state; warm up first.
    for text in texts.iter().take(50) {
        run_pool(text, &mut Totals::default());
        run_boxed(text, &mut Totals::default());
    }
    for text in &texts {
        run_pool(text, &mut totals);
        run_boxed(text, &mut totals);
    }
    let per_doc = |d: Duration| d.as_secs_f64() * 1e6 / totals.docs as f64;
    let per_token = |d: Duration| d.as_secs_f64() * 1e9 / totals.tokens as f64;
    println!("arenapool demo: one Pool per document, spaCy style");
    println!("  documents             {:>12}", totals.docs);
    println!("  tokens                {:>12}", totals.tokens);
    println!(
        "  live allocations      {:>12}   (words, morphology records, token arrays; scratch freed)",
        totals.allocations
    );
    println!(
        "  live bytes            {:>12}   ({:.1} per token)",
        totals.live_bytes,
        totals.live_bytes as f64 / totals.tokens as f64
    );
    println!(
        "  reserved bytes        {:>12}   ({:.2}x live; largest document {} B)",
        totals.reserved,
        totals.reserved as f64 / totals.live_bytes as f64,
        totals.peak_reserved
    );
    println!(
        "  chunks per document   {:>12.1}",
        totals.chunks as f64 / totals.docs as f64
    );
    println!(
        "  token array doublings {:>12}   ({} in place, {} by copy)",
        totals.in_place + totals.by_copy,
        totals.in_place,
        totals.by_copy
    );
    println!();
    println!(
        "  time per document     {:>9.1} µs  Pool        ({:.1} ns/token)",
        per_doc(totals.pool_time),
        per_token(totals.pool_time)
    );
    println!(
        "                        {:>9.1} µs  Vec/Box     ({:.1} ns/token)",
        per_doc(totals.boxed_time),
        per_token(totals.boxed_time)
    );
    println!(
        "  Pool vs Vec/Box       {:>9.2}x faster (same run, interleaved, warm)",
        totals.boxed_time.as_secs_f64() / totals.pool_time.as_secs_f64()
    );
}
