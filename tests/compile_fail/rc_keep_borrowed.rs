// `keep` takes only values that borrow nothing: an `RcHandle` has no
// lifetime to tie a borrow to.
use arenapool::RcPool;

fn main() {
    let mem = RcPool::new();
    let local = String::from("short-lived");
    let _token = mem.keep(mem.alloc_copy(local.as_str()));
}
