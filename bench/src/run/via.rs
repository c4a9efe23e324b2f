//! The gateway dimension (`--via`): which gateways a run puts in the path, and their cells.

use anyhow::bail;

use super::plan::{CellPlan, LoadPoint, Plan};
use super::profiles::Security;
use crate::gateway::{Kind, routed};
use wirebench_engine::catalog::Operation;

/// The operations run through a gateway when none are named.
const VIA_OPS: [Operation; 2] = [Operation::GetUser, Operation::ListOrders];

/// The gateways `--via` names beside `direct`, and the operations run through them (the
/// run's when `--operations` named some, else get-user and list-orders).
pub fn vias(
    names: &[String],
    operations: Option<&[Operation]>,
) -> anyhow::Result<(Vec<Kind>, Vec<Operation>)> {
    let mut vias = Vec::new();
    for name in names {
        match (name.as_str(), Kind::named(name)) {
            ("direct", _) => {}
            (_, Some(kind)) if !vias.contains(&kind) => vias.push(kind),
            (_, Some(_)) => {}
            (other, None) => bail!("--via {other}: direct, nginx or haproxy"),
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
