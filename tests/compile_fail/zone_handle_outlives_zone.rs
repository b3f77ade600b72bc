// A zone's handle borrows the zone: it cannot outlive it, though the parent
// lives on.
use arenapool::Pool;

fn main() {
    let parent = Pool::new();
    let escaped = {
        let zone = parent.zone();
        zone.alloc_str("transient")
    };
    println!("{}", &*escaped);
}
