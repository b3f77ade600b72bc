// A handle cannot escape the function that owns its pool.
use arenapool::{Handle, Pool};

fn make() -> Handle<'static, [u8]> {
    let pool = Pool::new();
    pool.alloc(1, 8)
}

fn main() {
    let _ = make();
}
