//! What the run profiles (smoke, quick, full) run: the table [`settings`] reads.

use std::time::Duration;

use super::RunProfile;
use super::plan::{ProfileSettings, SIZED_OPS, Security};
use crate::catalog::Operation;

/// The operations whose request waves differ between protocols: where a network's round
/// trip shows.
const ROUND_TRIP_OPS: &[Operation] = &[Operation::UserOrders, Operation::UsersOrders];

/// What each run profile runs.
pub fn settings(p: RunProfile) -> ProfileSettings {
    match p {
        RunProfile::Smoke => ProfileSettings {
            payloads: &["tiny"],
            concurrency: &[2],
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(250),
            rate: 200.0,
            open_ops: &[Operation::GetUser],
            repeat: 1,
            networks: &[],
            network_ops: &[],
            tls: &[],
            tls_ops: &[],
            streams: &[],
            streams_ops: &[],
            sizes: &[],
            size_ops: &[],
            sizes_far: false,
            compression_ops: &Operation::ALL,
        },
        RunProfile::Quick => ProfileSettings {
            payloads: &["small"],
            concurrency: &[1, 16],
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
            rate: 1000.0,
            open_ops: &[Operation::GetUser],
            repeat: 3,
            networks: &["wan"],
            network_ops: ROUND_TRIP_OPS,
            tls: &[Security::Tls, Security::TlsResumed],
            tls_ops: &[Operation::GetUser],
            streams: &[16],
            streams_ops: &[Operation::GetUser],
            sizes: &[1, 10, 100],
            size_ops: &[Operation::ListOrders],
            sizes_far: false,
            compression_ops: &[Operation::GetUser, Operation::ListOrders, Operation::CreateOrder],
        },
        RunProfile::Full => ProfileSettings {
            payloads: &["small", "medium", "large"],
            concurrency: &[1, 4, 16, 64],
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(350),
            rate: 2000.0,
            open_ops: &Operation::ALL,
            repeat: 5,
            networks: &["lan", "wan", "wan-lossy", "cable", "4g", "3g"],
            network_ops: &[
                Operation::GetUser,
                Operation::UserOrders,
                Operation::UsersOrders,
                Operation::CreateOrder,
            ],
            tls: &[Security::Tls, Security::TlsResumed],
            tls_ops: &Operation::ALL,
            streams: &[4, 16, 64],
            streams_ops: &[Operation::GetUser, Operation::ListOrders],
            sizes: &[1, 10, 100, 1000],
            size_ops: SIZED_OPS,
            sizes_far: true,
            compression_ops: &Operation::ALL,
        },
    }
}
