// Freeing twice does not compile.
use arenapool::Pool;

fn main() {
    let pool = Pool::new();
    let handle = pool.alloc_value(String::from("once"));
    pool.free(handle);
    pool.free(handle);
}
