//! `parex calibrate`: where parallel execution starts paying on this
//! machine. The node measures its own transfers at [`SIZES`] and asks
//! [`recommend`] for the threshold.

use crate::harness::Row;

/// Block sizes the calibration tries.
pub const SIZES: [usize; 11] = [16, 24, 32, 48, 64, 96, 128, 256, 512, 1_024, 4_096];

/// The smallest block size from which every larger measured size ran
/// parallel at least 2% faster than sequential (rows in increasing size);
/// `None` if the largest did not.
pub fn recommend(rows: &[Row]) -> Option<usize> {
    let mut recommended = None;
    for row in rows.iter().rev() {
        if row.speedup >= 1.02 {
            recommended = Some(row.txs);
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
            reexec_per_tx: 0.0,
            validation_failures: 0.0,
            dependency_waits: 0.0,
            ideal_speedup: 2.0,
            outputs_equal: true,
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
        assert_eq!(recommend(&rows), Some(128));
        assert_eq!(recommend(&[row(16, 0.5), row(32, 0.9)]), None);
    }
}
