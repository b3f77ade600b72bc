// A handle dropped unused keeps its block until the pool goes (1,001
// discarded `alloc(1, 64)` once left `size() == 64064`): the compiler says
// so.
#![deny(unused_must_use)]

use arenapool::Pool;

fn main() {
    let pool = Pool::new();
    pool.alloc(1, 64);
    pool.alloc_str("lost");
    nodrop(&pool);
}

fn nodrop(pool: &Pool) {
    pool.alloc_nodrop(5u8);
}
