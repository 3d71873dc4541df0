//! `parex calibrate`: where parallel execution starts paying on this
//! machine. The node measures its own transfers at [`SIZES`] and asks
//! [`recommend`] for the threshold.

use crate::harness::Row;

/// Block sizes the calibration tries: up to 16,384, since on 2 cores node
/// transfers paid, if at all, only above 8,192 (`docs/BENCHMARKS.md`,
/// "Calibration").
pub const SIZES: [usize; 13] = [
    16, 24, 32, 48, 64, 96, 128, 256, 512, 1_024, 4_096, 8_192, 16_384,
];

/// The smallest of `sizes` from which every larger one ran parallel at
/// least 2% faster than sequential; `rows[i]` measured `sizes[i]`, in
/// increasing size (a node block's row counts its reward and payout too,
/// the size is what the node's thresholds count). `None` if the largest
/// did not.
pub fn recommend(sizes: &[usize], rows: &[Row]) -> Option<usize> {
    let mut recommended = None;
    for (&size, row) in sizes.iter().zip(rows).rev() {
        if row.speedup >= 1.02 {
            recommended = Some(size);
        } else {
            break;
        }
    }
    recommended
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(txns: usize, speedup: f64) -> Row {
        Row {
            workload: "transfer".into(),
            txs: txns,
            accounts: txns,
            threads: 2,
            seq_ms: 1.0,
            par_ms: 1.0 / speedup,
            speedup,
            auto_ms: 1.0,
            auto_speedup: 1.0,
            auto_switched: 0.0,
            reexec_per_tx: 0.0,
            validation_failures: 0.0,
            dependency_waits: 0.0,
            block_stm_mib: 0.0,
            ideal_speedup: 2.0,
            outputs_equal: true,
            round_trip_ns: None,
        }
    }

    #[test]
    fn recommends_the_start_of_the_winning_tail() {
        let rows = [
            row(16, 0.5),
            row(32, 1.05),
            row(64, 0.99),
            row(128, 1.1),
            row(256, 1.3),
        ];
        let sizes = [16, 32, 64, 128, 256];
        assert_eq!(recommend(&sizes, &rows), Some(128));
        assert_eq!(recommend(&[16, 32], &[row(16, 0.5), row(32, 0.9)]), None);
        // Sizes name the rows: a node row counts two more transactions.
        assert_eq!(recommend(&[100], &[row(102, 1.5)]), Some(100));
    }
}
