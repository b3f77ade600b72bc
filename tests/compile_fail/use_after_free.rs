// `free` consumes the handle: no use after free.
use arenapool::Pool;

fn main() {
    let pool = Pool::new();
    let handle = pool.alloc(1, 8);
    pool.free(handle);
    assert_eq!(handle[0], 0);
}
