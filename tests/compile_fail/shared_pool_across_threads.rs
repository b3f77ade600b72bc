// Sharing `&Pool` with a scoped thread does not compile.
use arenapool::Pool;

fn main() {
    let pool = Pool::new();
    std::thread::scope(|s| {
        s.spawn(|| pool.alloc(1, 8).len());
    });
}
