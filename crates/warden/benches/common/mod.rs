//! Settings shared by the criterion benches: short runs, so the whole set
//! finishes in a couple of minutes; criterion's command-line options still
//! override them.

use std::time::Duration;

use criterion::Criterion;

/// 30 samples, 0.5 s warm-up, 2 s measurement.
pub fn short() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}
