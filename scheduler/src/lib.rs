//! Block-STM collaborative scheduler.
#![deny(missing_docs)]
