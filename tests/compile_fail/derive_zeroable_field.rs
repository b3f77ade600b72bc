// A field that is not valid when all-zero (a reference) is refused, with
// the error on that field.
#[derive(Clone, Copy, arenapool::Zeroable)]
struct Token<'a> {
    id: u32,
    text: &'a str,
}

#[derive(Clone, Copy, arenapool::Zeroable)]
enum Kind {
    Word,
    Punct,
}

fn main() {}
