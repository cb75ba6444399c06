//! Exploration throughput on the two-phase-commit model (stateright's benchmark model).
//!
//! `cargo bench -p mmcid-checker --bench explore`. Divan's "items" are unique states, so its
//! throughput column is unique states per second.

use mmcid_checker::{check, CheckConfig};

#[path = "../examples/two_phase_commit.rs"]
#[allow(dead_code, unused_imports)]
mod two_phase_commit;

use two_phase_commit::TwoPhaseSys;

fn main() {
    divan::main();
}

/// Two-phase commit with 5 resource managers (8 832 states), without symmetry.
#[divan::bench(args = [1, 2], sample_count = 20)]
fn two_phase_commit_5(bencher: divan::Bencher, workers: usize) {
    bench(bencher, 5, workers, false, 8_832);
}

/// Two-phase commit with 7 resource managers, without symmetry.
#[divan::bench(args = [1, 2], sample_count = 5)]
fn two_phase_commit_7(bencher: divan::Bencher, workers: usize) {
    let unique = check(&TwoPhaseSys { rms: 7 }, &config(1, false))
        .stats
        .unique_states;
    bench(bencher, 7, workers, false, unique);
}

/// Two-phase commit with 7 resource managers, with symmetry.
#[divan::bench(args = [1, 2], sample_count = 10)]
fn two_phase_commit_7_symmetry(bencher: divan::Bencher, workers: usize) {
    let unique = check(&TwoPhaseSys { rms: 7 }, &config(1, true))
        .stats
        .unique_states;
    bench(bencher, 7, workers, true, unique);
}

fn config(workers: usize, symmetry: bool) -> CheckConfig {
    CheckConfig {
        workers,
        symmetry,
        ..CheckConfig::default()
    }
}

fn bench(bencher: divan::Bencher, rms: usize, workers: usize, symmetry: bool, unique: u64) {
    let model = TwoPhaseSys { rms };
    bencher
        .counter(divan::counter::ItemsCount::new(unique))
        .bench(|| {
            let report = check(&model, &config(workers, symmetry));
            assert_eq!(report.stats.unique_states, unique);
            report
        });
}
