//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Full counts natively, small ones under Miri.
pub fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// xorshift: the same sequence on every run.
pub struct Rng(pub u64);

impl Rng {
    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
