// An `RcHandle` holds an `Rc` of a pool that is not `Sync`: it cannot go to
// another thread.
use arenapool::RcPool;

fn main() {
    let mem = RcPool::new();
    let block = mem.keep(mem.alloc(1, 8));
    std::thread::spawn(move || block.len());
}
