//! The gateway dimension (`--via`): which gateways a run puts in the path, and their cells.

use anyhow::bail;

use super::plan::{CellPlan, LoadPoint, Plan};
use super::profiles::Security;
use crate::gateway::{Via, routed};
use wirebench_engine::catalog::Operation;

/// The operations run through a gateway when none are named.
const VIA_OPS: [Operation; 2] = [Operation::GetUser, Operation::ListOrders];

/// The gateways `--via` names beside `direct`, and the operations run through them (the
/// run's when `--operations` named some, else get-user and list-orders).
pub fn vias(
    names: &[String],
    operations: Option<&[Operation]>,
) -> anyhow::Result<(Vec<Via>, Vec<Operation>)> {
    let mut vias = Vec::new();
    for name in names {
        match (name.as_str(), Via::parse(name)) {
            ("direct", _) => {}
            (_, Some(via)) if !vias.contains(&via) => vias.push(via),
            (_, Some(_)) => {}
            (other, None) => {
                bail!("--via {other}: direct, nginx or haproxy, with a rate limit as nginx@500/s")
            }
        }
    }
    let ops = operations.map_or_else(|| VIA_OPS.to_vec(), <[Operation]>::to_vec);
    Ok((vias, ops))
}

impl Plan {
    /// The cells through each gateway: on loopback, warm and plain, closed loop at every
    /// concurrency level, for every variant the gateway routes.
    pub(super) fn gateway_cells(&self) -> Vec<CellPlan> {
        let mut cells = Vec::new();
        let Some(network) = self.networks.iter().position(|n| n.is_loopback()) else { return cells };
        for &via in &self.vias {
            for &protocol in self.protocols.iter().filter(|p| routed(**p).is_ok()) {
                for &op in self.via_ops.iter().filter(|op| protocol.unsupported(**op).is_none()) {
                    for &concurrency in &self.concurrency {
                        cells.push(CellPlan {
                            protocol,
                            op,
                            point: LoadPoint::Closed { concurrency },
                            network,
                            emulated: false,
                            fresh: false,
                            security: Security::Plain,
                            streams: 1,
                            size: None,
                            via: Some(via),
                        });
                    }
                }
            }
        }
        cells
    }
}
