use std::hint::black_box;
use std::time::Instant;
#[inline(never)]
fn run_handle(pool: &arenapool::Pool, n: usize) {
    for _ in 0..n {
        let _ = black_box(pool.alloc(1, 16));
    }
}
#[inline(never)]
fn run_typed(pool: &arenapool::Pool, n: usize) {
    for _ in 0..n {
        let _ = black_box(pool.alloc_zeroed::<[u8; 16]>());
    }
}
#[inline(never)]
fn run_bump(b: &bumpalo::Bump, n: usize) {
    for _ in 0..n {
        black_box(b.alloc([0u8; 16]));
    }
}
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn main() {
    let (mut h, mut t, mut b) = (vec![], vec![], vec![]);
    for _ in 0..60 {
        let s = Instant::now();
        {
            let p = arenapool::Pool::new();
            run_handle(&p, 1_000_000);
        }
        h.push(s.elapsed().as_secs_f64() * 1e3);
        let s = Instant::now();
        {
            let p = arenapool::Pool::new();
            run_typed(&p, 1_000_000);
        }
        t.push(s.elapsed().as_secs_f64() * 1e3);
        let s = Instant::now();
        {
            let p = bumpalo::Bump::new();
            run_bump(&p, 1_000_000);
        }
        b.push(s.elapsed().as_secs_f64() * 1e3);
    }
    let (h, t, b) = (med(h), med(t), med(b));
    println!(
        "median ms: handle {h:.3} typed {t:.3} bumpalo {b:.3}  ratios {:.2} {:.2}",
        h / b,
        t / b
    );
}
