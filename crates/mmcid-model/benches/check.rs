//! Exploration throughput of the mm_cid model at the latest kernel.
//!
//! `cargo bench -p mmcid-model --bench check`. Divan's items are unique states, so its
//! throughput column is unique states per second.

use mmcid_checker::{check, CheckConfig};
use mmcid_model::{MmCidModel, Scenario};

fn main() {
    divan::main();
}

fn config(workers: usize, symmetry: bool) -> CheckConfig {
    CheckConfig {
        workers,
        symmetry,
        ..CheckConfig::default()
    }
}

fn bench(bencher: divan::Bencher, scenario: Scenario, workers: usize, symmetry: bool) {
    let model = MmCidModel::new(scenario).unwrap();
    let unique = check(&model, &config(workers, symmetry))
        .stats
        .unique_states;
    bencher
        .counter(divan::counter::ItemsCount::new(unique))
        .bench(|| {
            let report = check(&model, &config(workers, symmetry));
            assert_eq!(report.stats.unique_states, unique);
            report
        });
}

/// The default `mmcid check` configuration (2 CPUs, 3 threads, 2 forks, 1 exit), symmetry on.
#[divan::bench(args = [1, 2], sample_count = 5)]
fn latest_default(bencher: divan::Bencher, workers: usize) {
    bench(bencher, Scenario::default(), workers, true);
}

/// 3 CPUs, 3 threads (1 at start), 3 forks, no exit: both directions of the fork path.
#[divan::bench(args = [1, 2], sample_count = 3)]
fn latest_3cpus_3forks(bencher: divan::Bencher, workers: usize) {
    let sc = Scenario {
        cpus: 3,
        initial_allowed: 3,
        threads: 3,
        forks: 3,
        exits: 0,
        ..Scenario::default()
    };
    bench(bencher, sc, workers, true);
}
