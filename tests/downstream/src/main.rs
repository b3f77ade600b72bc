// A downstream crate that depends on arenapool alone (no `bytemuck` in its
// crate root: see Cargo.toml) derives `Zeroable` as the docs show, for plain,
// tuple, unit, generic and nested structs, and allocates them zeroed.
#![deny(warnings)]

use arenapool::{Pool, Zeroable};

#[derive(Clone, Copy, Debug, PartialEq, Zeroable)]
#[repr(C)]
struct TokenC {
    lex: u32,
    head: i32,
    spacy: bool,
    morph: [u8; 6],
}

#[derive(Clone, Copy, arenapool::Zeroable)]
struct Pair(u64, f32);

#[derive(Clone, Copy, Zeroable)]
struct Unit;

#[derive(Clone, Copy, Zeroable)]
struct Grid<T: Copy, const N: usize> {
    cells: [T; N],
    owner: Option<core::num::NonZeroU32>,
}

#[derive(Clone, Copy, Zeroable)]
struct Doc {
    first: TokenC,
    grid: Grid<Pair, 4>,
    marker: Unit,
}

fn main() {
    let pool = Pool::new();
    let mut tokens = pool.alloc_slice_zeroed::<TokenC>(3);
    assert_eq!(tokens[2], TokenC::zeroed());
    tokens[0].head = -1;
    pool.realloc(&mut tokens, 5);
    assert_eq!((tokens[0].head, tokens[4].lex), (-1, 0));
    let doc = pool.alloc_zeroed::<Doc>();
    assert_eq!((doc.grid.cells[3].0, doc.grid.cells[3].1), (0, 0.0));
    assert_eq!(doc.first, TokenC::zeroed());
    let Unit = doc.marker;
    assert!(doc.grid.owner.is_none());
}
